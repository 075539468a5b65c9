"""finetune on image files in both frameworks: timm's train transform on the originals, streamed (the TF path
caches nothing), an undecodable file skipped and named in the history."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import zoo_core as zoo


def _folder(root, seed, per_class, shape, ext):
    """Classes a and b of random images, ``shape(i)`` (h, w) for image i, saved as ``ext``."""
    rng = np.random.default_rng(seed)
    for c in ("a", "b"):
        (root / c).mkdir()
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (*shape(i), 3), dtype=np.uint8)).save(root / c / f"{i}.{ext}")


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_finetune_on_files_skips_and_names_a_broken_file(framework, tmp_path):
    _folder(tmp_path, 0, 6, lambda i: (40 + i, 50), "jpg")
    (tmp_path / "b" / "zz.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    data = zoo.data.image_folder(tmp_path, split=(1.0, 0.0, 0.0))
    model = zoo.load("simplecnn_cifar", framework=framework, num_classes=2)
    with pytest.warns(UserWarning, match="zz.jpg"):
        history = zoo.finetune(model, data, epochs=1, batch_size=4, augment=True, progress=False)
    assert len(history["train_loss"]) == 1 and np.isfinite(history["train_loss"][0])
    assert [p.rsplit("/", 1)[-1] for p in history["skipped_files"]] == ["zz.jpg"]


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_evaluate_on_files_skips_and_names_a_broken_file_or_raises_when_strict(framework, tmp_path):
    _folder(tmp_path, 1, 4, lambda i: (30, 36), "png")
    (tmp_path / "a" / "bad.png").write_bytes(b"not a png")
    model = zoo.load("simplecnn_cifar", framework=framework, num_classes=2)
    test = zoo.data.image_folder(tmp_path, split=(0.0001, 0.0, 0.9999)).test
    with pytest.warns(UserWarning, match="bad.png is not a readable image"):
        report = zoo.evaluate(model, test)
    assert sum(map(sum, report["confusion_matrix"])) == len(test) - 1
    assert [p.rsplit("/", 1)[-1] for p in report["skipped_files"]] == ["bad.png"]
    strict = zoo.data.image_folder(tmp_path, split=(0.0001, 0.0, 0.9999), strict=True).test
    with pytest.raises(zoo.data.DataError, match="bad.png is not a readable image"):
        zoo.evaluate(model, strict)
