"""zoo.predict and `zoo predict`: the labels a user gets for image files, folders, PIL images and arrays."""

from __future__ import annotations

import contextlib
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

import zoo_core as zoo
from zoo_core import data, training
from zoo_core.cli import main
from zoo_core.training.loop import seed_everything


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """simplecnn trained two epochs on 600 mnist5k digits (torch), its test split (120 digits) as PNG files."""
    root = tmp_path_factory.mktemp("mnist_run")
    ds = data.builtin("mnist5k", split=(0.8, 0, 0.2), seed=0, limit=600)
    seed_everything(0, "torch")
    model = zoo.load("simplecnn", "torch", num_classes=10)
    training.finetune(model, ds, epochs=2, batch_size=32, lr=3e-3, out=root / "run", progress=False)
    folder = root / "test_images"
    folder.mkdir()
    names = []
    for i, img in enumerate(ds.test.images):
        name = folder / f"{i:03d}.png"
        Image.fromarray(img).save(name)
        names.append(str(name))
    return root / "run", ds, folder, names


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_zoo_predict_on_a_folder_equals_zoo_evaluate(mnist_run):
    run, ds, folder, names = mnist_run
    code, out, err = run_cli("predict", str(run), str(folder), "--format", "json", "--top-k", "3")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["image"] for r in rows] == names
    predicted = np.array([int(r["predictions"][0]["label"]) for r in rows])
    assert all(len(r["predictions"]) == 3 and r["error"] is None for r in rows)

    model = zoo.load(str(run), "torch")
    report = zoo.evaluate(model, ds.test)
    expected = training.predict_split(model, ds.test).argmax(1)  # the predictions evaluate scores
    assert predicted.tolist() == expected.tolist()
    assert (predicted == ds.test.labels).mean() == pytest.approx(report["accuracy"])
    assert report["accuracy"] > 0.6  # it did learn: the labels are digits, not noise
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (ds.test.labels, predicted), 1)
    assert cm.tolist() == report["confusion_matrix"]


def test_keras_predicts_the_same_labels_as_torch(mnist_run):
    run, ds, folder, names = mnist_run
    torch_top = zoo.predict(str(run), names[:40], framework="torch")
    keras_top = zoo.predict(str(run), names[:40], framework="tf", batch_size=16)
    assert [p.label for p in keras_top] == [p.label for p in torch_top]
    for a, b in zip(torch_top, keras_top, strict=True):
        assert a.top[0].probability == pytest.approx(b.top[0].probability, abs=1e-4)


def test_every_kind_of_input_gives_the_same_answer(mnist_run):
    run, ds, folder, names = mnist_run
    model = zoo.load(str(run), "torch")
    arrays = ds.test.images[:4]
    by_path = zoo.predict(model, names[:4], top_k=10)
    by_array = zoo.predict(model, list(arrays), top_k=10)
    by_batch = zoo.predict(model, arrays, top_k=10)  # (N, H, W) uint8
    by_pil = zoo.predict(model, [Image.fromarray(a).convert("RGB") for a in arrays], top_k=10)  # converted to L
    for results in (by_array, by_batch, by_pil):
        assert [[(t.label, round(t.probability, 6)) for t in r.top] for r in results] == \
            [[(t.label, round(t.probability, 6)) for t in r.top] for r in by_path]
    first = by_path[0]
    assert len(first.top) == 10
    probs = [t.probability for t in first.top]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)
    single = zoo.predict(model, names[0])  # one path, not a list
    assert len(single) == 1 and single[0].label == first.label and len(single[0].top) == 5


def test_label_names_come_from_the_checkpoint(tmp_path):
    model = zoo.load("simplecnn", "torch", num_classes=3)
    zoo.save(model, tmp_path / "pets", labels=["cat", "dog", "parrot"])
    img = (np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)  # RGB, other size: resized
    (result,) = zoo.predict(str(tmp_path / "pets"), img, top_k=5)
    assert sorted(t.label for t in result.top) == ["cat", "dog", "parrot"]  # top_k capped at the 3 classes


def test_unreadable_files_are_reported_and_the_rest_predicted(mnist_run, tmp_path):
    run, ds, folder, names = mnist_run
    bad = tmp_path / "images"
    bad.mkdir()
    Image.fromarray(ds.test.images[0]).save(bad / "a_good.png")
    (bad / "b_broken.png").write_bytes(b"not a png at all")
    Image.fromarray(ds.test.images[1]).save(bad / "c_good.jpg")
    code, out, err = run_cli("predict", str(run), str(bad), str(tmp_path / "missing.png"), "--format", "csv")
    assert code == 1
    assert "2 of 4 images could not be read" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    errors = {r["image"]: r["error"] for r in rows if r["error"]}
    assert set(errors) == {str(bad / "b_broken.png"), str(tmp_path / "missing.png")}
    assert "not a readable image" in errors[str(bad / "b_broken.png")]
    assert errors[str(tmp_path / "missing.png")] == "no such file"
    good = [r for r in rows if not r["error"]]
    assert {r["image"] for r in good} == {str(bad / "a_good.png"), str(bad / "c_good.jpg")}
    assert [r["rank"] for r in good if r["image"].endswith("a_good.png")] == ["1", "2", "3", "4", "5"]


def test_table_output_is_readable(mnist_run):
    run, ds, folder, names = mnist_run
    code, out, err = run_cli("predict", str(run), names[0], names[1], "--format", "table", "--top-k", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["image", "label", "prob", "next"]
    expected = zoo.predict(str(run), names[:2], top_k=2)
    for line, p in zip(lines[2:], expected, strict=True):
        assert line.split()[:3] == [p.source, p.top[0].label, f"{p.top[0].probability:.1%}"]


def test_bad_arguments_are_one_line_errors(tmp_path):
    code, out, err = run_cli("predict", "simplecnn", str(tmp_path), "--format", "json")
    assert code == 1 and err.startswith("zoo: error: no images found") and "Traceback" not in err
    code, out, err = run_cli("predict", "no_such_model", str(tmp_path))
    assert code == 1 and "unknown model 'no_such_model'" in err
    with pytest.raises(zoo.ZooError, match="give a path, a PIL image or a uint8 array"):
        zoo.predict(zoo.load("simplecnn", "torch"), [3.5])
