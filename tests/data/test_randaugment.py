"""zoo_core.data.randaugment: timm's RandAugment ops on PIL images, drawn from a numpy generator."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zoo_core.data import Augment, Preprocess, transform
from zoo_core.data.randaugment import OPS, RandAugment


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("name", list(OPS))
def test_every_op_keeps_the_size_and_mode(name, mode):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8)).convert(mode)
    op, arg, _ = OPS[name]
    level = arg(9.0)
    out = op(img) if level is None else op(img, 1.0 + level if name in ("Color", "Contrast", "Brightness",
                                                                        "Sharpness") else level)
    assert out.size == img.size and out.mode == mode


def test_seeded_and_changes_images():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8))
    ra = RandAugment(prob=1.0)
    a = [np.asarray(ra(img, np.random.default_rng(s))) for s in range(6)]
    b = [np.asarray(ra(img, np.random.default_rng(s))) for s in range(6)]
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert sum(not np.array_equal(p, np.asarray(img)) for p in a) >= 5


def test_the_train_transform_takes_randaugment_instead_of_jitter():
    assert Augment.parse("crop,flip,randaugment") == Augment(crop=True, flip=True, jitter=0.0, randaugment=True)
    pre = Preprocess((16, 16), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    t = transform(pre, train=True, augment="randaugment")
    img = np.random.default_rng(1).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    outs = [t.at(img, seed=0, epoch=0, index=i) for i in range(4)]
    assert all(o.shape == (16, 16, 3) and o.dtype == np.float32 for o in outs)
    np.testing.assert_array_equal(outs[0], t.at(img, seed=0, epoch=0, index=0))
    arr = Augment.parse("randaugment")(np.zeros((8, 8, 1), np.float32), np.random.default_rng(0),
                                         np.array([0.5], np.float32), np.array([0.25], np.float32))
    assert arr.shape == (8, 8, 1)
