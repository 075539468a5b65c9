"""The torch DataLoader and tf.data paths over image files: timm's train transform on the original image with the
same numbers in both frameworks, undecodable files skipped and named at read time (or raising when strict)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zoo_core.data import DataError, Preprocess, image_folder, tf_dataset, torch_loader
from zoo_core.data.augment import Augment, item_rng
from zoo_core.data.tf_pipeline import tf_files
from zoo_core.data.transforms import train_image

PRE = Preprocess((24, 24), 3, (0.5, 0.4, 0.3), (0.2, 0.3, 0.25), "bicubic", 0.875)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        for i in range(4):
            w, h = 30 + 7 * i, 50 - 5 * i  # non-square originals, larger than the input
            (tmp_path / c).mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    (tmp_path / "dog" / "broken.png").write_bytes(b"\x89PNG truncated")
    return tmp_path


def _torch_epoch(split, augment, seed, epoch, workers=0):
    xs, ys = [], []
    for x, y in torch_loader(split, PRE, 3, augment=augment, seed=seed, epoch=epoch, num_workers=workers):
        xs.append(x.numpy().transpose(0, 2, 3, 1))
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def test_augmented_files_same_in_torch_and_tf_and_skip_the_broken_file(folder):
    ds = image_folder(folder, split=(1.0, 0.0, 0.0))
    split = ds.train
    with pytest.warns(UserWarning, match="broken.png"):
        xt, yt = _torch_epoch(split, True, seed=5, epoch=2)
    assert ds.skipped == 1 and ds.skipped_files[0].endswith("broken.png")
    assert len(yt) == len(split) - 1
    xf, yf = zip(*[(x.numpy(), int(y)) for x, y in tf_files(split, PRE, None, True, seed=5, epoch=2)], strict=True)
    np.testing.assert_array_equal(np.stack(xf), xt)
    assert list(yf) == yt.tolist()
    # each image is timm's train transform of the original file, drawn from (seed, epoch, index)
    good = [i for i, p in enumerate(split.images) if not p.endswith("broken.png")]
    np.testing.assert_array_equal(xt[0], train_image(Augment(), PRE, split.images[good[0]], item_rng(5, 2, good[0])))
    # without augmentation: the eval transform, in both
    xe, _ = _torch_epoch(split, None, 0, 0)
    xtf = np.concatenate([x.numpy() for x, _ in tf_dataset(split, PRE, 4)])
    np.testing.assert_array_equal(xe, xtf)
    np.testing.assert_array_equal(xe[0], PRE(split.images[good[0]]))


def test_worker_processes_report_skipped_files(folder):
    ds = image_folder(folder, split=(1.0, 0.0, 0.0))
    from zoo_core.data.torch_loader import Batch

    batches = list(torch_loader(ds.train, PRE, 4, num_workers=1))
    assert all(isinstance(b, Batch) for b in batches)
    named = [n for b in batches for n in b.skipped]
    assert len(named) == 1 and named[0].endswith("broken.png")
    assert sum(len(b[1]) for b in batches) == len(ds.train) - 1


def test_strict_raises_the_one_line_error(folder):
    ds = image_folder(folder, split=(1.0, 0.0, 0.0), strict=True)
    with pytest.raises(DataError, match=r"broken.png is not a readable image .*replace or remove the file"):
        _torch_epoch(ds.train, None, 0, 0)
