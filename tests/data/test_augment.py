"""zoo_core.augment: train-time augmentation, reproducible and identical in both frameworks' pipelines."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_core.data import Preprocess, builtin, tf_dataset, torch_loader
from zoo_core.data.augment import Augment, item_rng
from zoo_core.errors import ZooError

PRE = Preprocess((20, 20), 3, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))


def _image(seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.random((20, 20, 3), dtype=np.float32)
    return (raw - PRE._stats(PRE.mean)) / PRE._stats(PRE.std)


def test_parse():
    assert Augment.parse(None) is None and Augment.parse(False) is None
    assert Augment.parse(True) == Augment()
    only = Augment.parse("flip")
    assert only.flip and not only.crop and only.jitter == 0
    with pytest.raises(ZooError, match="unknown augmentation rotate; choose from: crop, flip, jitter"):
        Augment.parse("flip,rotate")


def test_same_seed_same_image_other_epoch_other_image():
    aug, x = Augment(), _image()
    mean, std = PRE._stats(PRE.mean), PRE._stats(PRE.std)
    a = aug(x, item_rng(1, 0, 5), mean, std)
    b = aug(x, item_rng(1, 0, 5), mean, std)
    c = aug(x, item_rng(1, 1, 5), mean, std)
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == np.float32
    assert not np.allclose(a, c)


def test_flip_mirrors_and_jitter_stays_in_pixel_range():
    x, mean, std = _image(), PRE._stats(PRE.mean), PRE._stats(PRE.std)
    flip = Augment(crop=False, flip=True, jitter=0.0)
    outs = [flip(x, item_rng(0, 0, i), mean, std) for i in range(20)]
    assert any(np.array_equal(o, x[:, ::-1]) for o in outs) and any(np.array_equal(o, x) for o in outs)
    jitter = Augment(crop=False, flip=False, jitter=0.9)
    raw = jitter(x, item_rng(0, 0, 0), mean, std) * std + mean
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5 and not np.allclose(raw, x * std + mean)


def test_full_crop_is_identity():
    x, mean, std = _image(), PRE._stats(PRE.mean), PRE._stats(PRE.std)
    whole = Augment(crop=True, flip=False, jitter=0.0, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(whole(x, item_rng(0, 0, 0), mean, std), x, atol=1e-6)


def test_torch_and_tf_pipelines_augment_identically():
    data = builtin("digits", limit=40, split=(1.0, 0.0, 0.0), seed=0)
    pre = Preprocess((16, 16), 1, (0.5,), (0.5,))
    (x_torch, y_torch), = list(torch_loader(data.train, pre, batch_size=40, augment=True, seed=7))
    x_tf, y_tf = next(iter(tf_dataset(data.train, pre, batch_size=40, augment=True, seed=7)))
    np.testing.assert_array_equal(y_torch.numpy(), y_tf.numpy())
    np.testing.assert_allclose(x_torch.numpy().transpose(0, 2, 3, 1), x_tf.numpy(), atol=1e-6)
    plain, = list(torch_loader(data.train, pre, batch_size=40, seed=7))
    assert not np.allclose(plain[0].numpy(), x_torch.numpy())
