"""The TensorFlow data path: ``tf.data`` pipelines over a split (TensorFlow imported on use)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..frameworks import import_tensorflow
from .augment import Augment, item_rng
from .datasets import Split, require_nonempty
from .preprocess import Preprocess, augment_image, prepare
from .transforms import load_or_skip, train_image


def tf_dataset(split: Split, pre: Preprocess, batch_size: int | None = 64, *, shuffle: bool = False,
               augment: Any = None, seed: int = 0, cache: bool | None = None):
    """A ``tf.data.Dataset`` of (NHWC float batch, int labels) with map/cache/shuffle/prefetch
    (``batch_size=None``: unbatched single images, not prefetched). ``cache`` (default: in-memory splits only)
    keeps the preprocessed split in memory: 0.6 MB per 224 px image, so never the default for files."""
    tf = import_tensorflow()
    require_nonempty(split)
    x = prepare(split, pre)
    labels = split.labels.astype(np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, labels)) if x is not None else tf_files(split, pre)
    if cache or (cache is None and x is not None):
        ds = ds.cache()
    aug = Augment.parse(augment)
    if aug is not None:
        ds = augment_tf(ds, aug, pre, seed=int(seed), epoch=0)
    if shuffle:
        ds = ds.shuffle(len(split), seed=int(seed), reshuffle_each_iteration=False)
    if batch_size is None:
        return ds
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def tf_files(split: Split, pre: Preprocess, order: np.ndarray | None = None, augment: Any = None, seed: int = 0,
             epoch: int = 0):
    """An unbatched tf.data pipeline of (HWC float image, label) decoding a file split's images in ``order``
    (default: the split's), in parallel with a deterministic output order, nothing cached: memory stays bounded
    whatever the split's size. With ``augment``, each file is augmented as timm does on the original image, drawn
    from (seed, epoch, its index in the split), as in the torch loader. Undecodable files are skipped and named
    (``split.skipped``), or raise with a strict split."""
    tf = import_tensorflow()
    aug = Augment.parse(augment)
    h, w = pre.input_size
    empty = np.zeros((h, w, pre.in_chans), np.float32)

    def image(i: int) -> np.ndarray:
        item = split.image(i)
        return pre(item) if aug is None else train_image(aug, pre, item, item_rng(seed, epoch, i))

    def load(i):
        x = load_or_skip(image, int(i), split, [])
        return (empty, False) if x is None else (x, True)

    def mapper(i):
        img, ok = tf.numpy_function(load, [i], (tf.float32, tf.bool), stateful=False)
        img.set_shape((h, w, pre.in_chans))
        return img, tf.gather(labels, i), ok

    labels = tf.constant(split.labels.astype(np.int64))
    idx = np.arange(len(split), dtype=np.int64) if order is None else np.asarray(order, np.int64)
    ds = tf.data.Dataset.from_tensor_slices(idx).map(mapper, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.filter(lambda x, y, ok: ok).map(lambda x, y, ok: (x, y))


def augment_tf(ds: Any, aug: Augment, pre: Preprocess, seed: int, epoch: int) -> Any:
    """Augment an unbatched (image, label) tf.data pipeline with the numpy augmentation (index-seeded, so equal to
    the torch pipeline's); the index is the position in ``ds`` before any shuffle, so enumerate first."""
    tf = import_tensorflow()
    h, w = pre.input_size

    def run(i, im):
        return augment_image(aug, pre, im, seed, epoch, int(i))

    def mapper(i, item):
        im, y = item
        out = tf.numpy_function(run, [i, im], tf.float32, stateful=False)
        out.set_shape((h, w, pre.in_chans))
        return out, y

    return ds.enumerate().map(mapper, num_parallel_calls=tf.data.AUTOTUNE)
