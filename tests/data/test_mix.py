"""zoo_core.data.mix: batch-level mixup / cutmix with label-smoothed soft targets, seeded, the same in both
layouts through ``batches``."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_core.data import Mix, Preprocess, Split, batches
from zoo_core.errors import ZooError


def _batch(n=6, k=4):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8, 10, 3)).astype(np.float32), np.arange(n) % k


def test_parse():
    assert Mix.parse(None) is None and Mix.parse("none") is None and Mix.parse(False) is None
    assert Mix.parse("mixup") == Mix(mixup=0.8, cutmix=0.0)
    assert Mix.parse("cutmix", 0.1) == Mix(mixup=0.0, cutmix=1.0, smoothing=0.1)
    assert Mix.parse(True) == Mix.parse("mixup,cutmix")
    with pytest.raises(ZooError, match="unknown mix blend; choose from: mixup, cutmix"):
        Mix.parse("blend")


def test_targets_are_label_smoothed_one_hots():
    t = Mix(smoothing=0.1).targets(np.array([2, 0]), 4)
    np.testing.assert_allclose(t[0], [0.025, 0.025, 0.925, 0.025])
    np.testing.assert_allclose(t.sum(1), 1.0)


def test_mixup_blends_the_batch_with_itself_reversed():
    x, y = _batch()
    mixed, t = Mix.parse("mixup", 0.1)(x, y, 4, np.random.default_rng(3))
    base = Mix(smoothing=0.1).targets(y, 4)
    lam = float(np.linalg.lstsq((base - base[::-1]).reshape(-1, 1), (t - base[::-1]).reshape(-1), rcond=None)[0][0])
    assert 0.0 < lam < 1.0
    np.testing.assert_allclose(mixed, x * lam + x[::-1] * (1 - lam), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-6)
    again, t2 = Mix.parse("mixup", 0.1)(x, y, 4, np.random.default_rng(3))
    np.testing.assert_array_equal(again, mixed)  # seeded
    np.testing.assert_array_equal(t2, t)


def test_cutmix_pastes_a_box_and_weights_the_targets_by_its_area():
    x, y = _batch()
    for seed in range(5):
        cut, t = Mix.parse("cutmix")(x, y, 4, np.random.default_rng(seed))
        pasted = ~np.isclose(cut, x).all(axis=(0, 3))  # pixels taken from the reversed batch
        area = pasted.mean()
        base = Mix().targets(y, 4)
        np.testing.assert_allclose(t, base * (1 - area) + base[::-1] * area, atol=1e-6)


def test_batches_mix_the_same_in_both_layouts():
    images = np.random.default_rng(1).integers(0, 255, (20, 8, 8), dtype=np.uint8)
    split = Split("train", images, np.arange(20) % 3, ["a", "b", "c"])
    pre = Preprocess((8, 8), 1, (0.5,), (0.25,))
    kw = dict(batch_size=8, train=True, seed=2, mix="mixup,cutmix", label_smoothing=0.1, augment="flip")
    torch_batches = list(batches(split, pre, framework="torch", **kw))
    tf_batches = list(batches(split, pre, framework="tf", **kw))
    for (xt, yt), (xk, yk) in zip(torch_batches, tf_batches, strict=True):
        assert yt.dtype == np.float32 and yt.shape == (len(xt), 3)
        np.testing.assert_array_equal(xt, xk.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(yt, yk)
    plain = list(batches(split, pre, framework="tf", **{**kw, "mix": None}))
    assert plain[0][1].dtype == np.int64 and not np.array_equal(plain[0][0], tf_batches[0][0])
