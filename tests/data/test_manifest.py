"""Manifests (CSV / JSONL of path relative to the manifest, label): the dataset, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from zoo_core.data import DataError, Preprocess, as_arrays, manifest, open_dataset


@pytest.fixture
def images(tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(6):
        Image.new("RGB", (10 + i, 8), (40 * i, 0, 0)).save(tmp_path / "img" / f"{i}.png")
    return tmp_path


def test_csv_and_jsonl_give_the_same_dataset(images):
    rows = [(f"img/{i}.png", "cat" if i % 2 else "dog") for i in range(6)]
    (images / "m.csv").write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in rows))
    (images / "m.jsonl").write_text("".join(json.dumps({"path": p, "label": c}) + "\n" for p, c in rows))
    a = open_dataset(images / "m.csv", split=(0.5, 0.0, 0.5), seed=1)
    b = open_dataset(str(images / "m.jsonl"), split=(0.5, 0.0, 0.5), seed=1)
    assert a.classes == b.classes == ["cat", "dog"]
    assert a.train.images == b.train.images and a.train.labels.tolist() == b.train.labels.tolist()
    assert len(a.train) == 2 and all(p.startswith(str(images)) for p in a.train.images)
    x, y = as_arrays(a.train, Preprocess((8, 8), 3, (0.0,), (1.0,)))
    expected = {f"{images}/img/{i}.png": 0 if i % 2 else 1 for i in range(6)}
    assert [expected[p] for p in a.train.images] == y.tolist() and x.shape == (2, 8, 8, 3)


def test_split_column_is_used_as_given(images):
    text = "image,label,split\n" + "".join(f"img/{i}.png,{i % 2},{'train' if i < 4 else 'test'}\n" for i in range(6))
    (images / "m.csv").write_text(text)
    ds = manifest(images / "m.csv")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (4, 0, 2) and ds.classes == ["0", "1"]
    np.testing.assert_array_equal(ds.test.labels, [0, 1])


@pytest.mark.parametrize(("text", "message"), [
    ("path,label\nimg/0.png,a\nimg/9.png,b\n", r"m.csv:3: img/9.png does not exist \(paths are relative to"),
    ("path,label\nimg/0.png,a\nimg/1.png,zebra\n", r"m.csv:3: label 'zebra' is not one of the 2 classes"),
    ("file_name,cls\nimg/0.png,a\n", r"needs a path column \(path or image or file\) and a label column"),
    ("path,label\nimg/0.png,a\nimg/1.png,b,\n", None),
    ("path,label,split\nimg/0.png,a,train\nimg/1.png,b,holdout\n", r"m.csv:3: split 'holdout' is not one of"),
    ("path,label\n", r"has no rows"),
])
def test_bad_manifests_are_one_line_errors(images, text, message):
    (images / "m.csv").write_text(text)
    if message is None:  # a trailing empty cell is fine
        assert manifest(images / "m.csv", classes=["a", "b"]).num_classes == 2
        return
    with pytest.raises(DataError, match=message) as err:
        manifest(images / "m.csv", classes=["a", "b"])
    assert "\n" not in str(err.value)


def test_bad_jsonl_line(images):
    (images / "m.jsonl").write_text('{"path": "img/0.png", "label": "a"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"m.jsonl:2: not a JSON object"):
        manifest(images / "m.jsonl")
