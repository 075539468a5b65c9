"""The TensorFlow data path: ``tf.data`` pipelines over a split (TensorFlow imported on use)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..frameworks import import_tensorflow
from .augment import Augment
from .datasets import Split, require_nonempty
from .preprocess import Preprocess, augment_image, prepare


def tf_dataset(split: Split, pre: Preprocess, batch_size: int | None = 64, *, shuffle: bool = False,
               augment: Any = None, seed: int = 0, cache: bool = True):
    """A ``tf.data.Dataset`` of (NHWC float batch, int labels) with map/cache/shuffle/prefetch
    (``batch_size=None``: unbatched single images, not prefetched)."""
    tf = import_tensorflow()
    require_nonempty(split)
    x = prepare(split, pre)
    labels = split.labels.astype(np.int64)
    if x is not None:
        ds = tf.data.Dataset.from_tensor_slices((x, labels))
    else:
        paths = list(split.images)
        h, w = pre.input_size

        def load(i):
            return pre(paths[int(i)])

        def mapper(i, y):
            img = tf.numpy_function(load, [i], tf.float32, stateful=False)
            img.set_shape((h, w, pre.in_chans))
            return img, y

        ds = tf.data.Dataset.from_tensor_slices((np.arange(len(paths), dtype=np.int64), labels))
        ds = ds.map(mapper, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    aug = Augment.parse(augment)
    if aug is not None:
        ds = augment_tf(ds, aug, pre, seed=int(seed), epoch=0)
    if shuffle:
        ds = ds.shuffle(len(split), seed=int(seed), reshuffle_each_iteration=False)
    if batch_size is None:
        return ds
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


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
