"""Hub datasets through the ``datasets`` library: objects and ``hf://datasets/`` handles, pushed to and loaded from
the project's test Hub server with datasets' own push_to_hub; bad datasets are one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import run_zoo
from zoo_core.data import DataError, Preprocess, open_dataset, torch_loader

datasets = pytest.importorskip("datasets")
pytest_plugins = ["tests.conftest_hub"]
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

ALICE_TOKEN = "hf_alice_test_token"
CLASSES = [f"digit{i}" for i in range(10)]


def _digits(n: int = 60, *, bad_row: int | None = None) -> datasets.Dataset:
    """n scikit-learn digits as PNG images with ClassLabel names; ``bad_row`` holds bytes that are no image."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    images = [Image.fromarray(np.uint8(x * 255 / 16)) for x in d.images[:n]]
    table = datasets.Dataset.from_dict(
        {"image": images, "label": [int(t) for t in d.target[:n]]},
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=CLASSES)}))
    if bad_row is None:
        return table
    raw = table.cast_column("image", datasets.Image(decode=False))
    cells = list(raw["image"])
    cells[bad_row] = {"bytes": b"not an image", "path": None}
    return datasets.Dataset.from_dict({"image": cells, "label": list(raw["label"])}, features=raw.features)


def test_a_dataset_object_gives_classes_splits_and_lazy_images():
    ds = open_dataset(_digits(60), split=(0.5, 0.25, 0.25), seed=1)
    assert ds.classes == CLASSES
    assert len(ds.train) + len(ds.val) + len(ds.test) == 60 and 20 <= len(ds.train) <= 34
    assert not ds.train.in_memory and set(ds.train.image(0)) == {"bytes", "path"}
    x, y = next(iter(torch_loader(ds.train, Preprocess((8, 8), 1, (0.5,), (0.25,)), batch_size=7)))
    assert tuple(x.shape) == (7, 1, 8, 8) and y.tolist() == ds.train.labels[:7].tolist()


def test_a_datasetdict_keeps_its_splits_and_names_validation_val():
    d = _digits(40)
    dd = datasets.DatasetDict(train=d.select(range(30)), validation=d.select(range(30, 36)),
                              test=d.select(range(36, 40)))
    ds = open_dataset(dd)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (30, 6, 4)
    assert ds.val.labels.tolist() == d.select(range(30, 36))["label"]


def test_an_undecodable_cell_is_skipped_and_named():
    ds = open_dataset(_digits(20, bad_row=3), split=(1.0, 0.0, 0.0))
    with pytest.warns(UserWarning, match=r"not a readable image"):
        seen = sum(len(y) for _, y in torch_loader(ds.train, Preprocess((8, 8), 1, (0.5,), (0.25,)), batch_size=8))
    assert seen == 19 and ds.skipped == 1 and "dataset:train[" in ds.skipped_files[0]


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d.remove_columns("image"), r"has no image column .* cast the image column"),
    (lambda d: d.cast_column("label", datasets.Value("int64")), r"has no label column .*ClassLabel\(names="),
    (lambda d: datasets.DatasetDict(validation=d), r"has splits validation but no train split; name one 'train'"),
    (lambda d: 3, r"cannot open a int as a dataset"),
])
def test_bad_hub_datasets_are_one_line_errors(make, message):
    source = make(_digits(12))
    with pytest.raises(DataError, match=message) as err:
        open_dataset(source)
    assert "\n" not in str(err.value)


def test_a_label_outside_the_classes_names_the_row():
    d = _digits(12)
    bad = datasets.Dataset.from_dict({"image": list(d.cast_column("image", datasets.Image(decode=False))["image"]),
                                      "label": [0] * 5 + [-1] + [1] * 6},
                                     features=datasets.Features({"image": datasets.Image(),
                                                                 "label": datasets.ClassLabel(names=["a", "b"])}))
    with pytest.raises(DataError, match=r"row 5 has label -1, outside the 2 classes 0..1; fix or drop the row"):
        open_dataset(bad)


def test_zoo_train_reads_a_dataset_pushed_to_the_hub(hub, hub_env, tmp_path, monkeypatch):
    # datasets reads HF_ENDPOINT and its cache folder once, at import, like huggingface_hub (see tests.conftest_hub)
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", hub.url)
    monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL", hub.url + "/datasets/{repo_id}/resolve/{revision}/{path}")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")
    d = _digits(48)
    datasets.DatasetDict(train=d.select(range(40)), test=d.select(range(40, 48))).push_to_hub(
        "alice/digits", token=ALICE_TOKEN)
    sha = hub.get_repo("alice/digits", "dataset").resolve("main")
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(hub_env.home), "HF_DATASETS_CACHE": str(tmp_path / "dc"),
           "HF_HUB_DISABLE_XET": "1"}
    out = tmp_path / "run"
    proc = run_zoo("train", "simplecnn", "--data", f"hf://datasets/alice/digits@{sha}", "--epochs", "1",
                   "--batch-size", "16", "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["classes"] == CLASSES

    missing = run_zoo("train", "simplecnn", "--data", "hf://datasets/alice/nope", "--epochs", "1", "--out",
                      str(tmp_path / "r2"), env=env)
    assert missing.returncode != 0
    last = missing.stderr.strip().splitlines()[-1]
    assert "no Hub dataset alice/nope" in last and "check the name" in last
