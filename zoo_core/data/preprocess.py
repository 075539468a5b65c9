"""Preprocessing for one model, in numpy/PIL, identical in both frameworks and equal to timm's eval transform:
channel conversion, resize + center crop to the model's input_size, mean/std normalisation; whole in-memory splits
prepared once in the model's layout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..layout import to_layout
from ..models import spec_of
from .augment import Augment, item_rng
from .datasets import Split
from .imageops import eval_resize_crop, normalize_batch
from .images import read_image


@dataclass(frozen=True)
class Preprocess:
    """The model's eval transform in numpy/PIL, identical in both frameworks and equal to timm's
    ``create_transform(**resolve_data_config(...))``: the image read as :mod:`.images` describes, resized and
    center-cropped as :func:`.imageops.eval_resize_crop` (``crop_pct``, ``crop_mode``), normalised."""

    input_size: tuple[int, int]
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    crop_mode: str = "center"

    @classmethod
    def for_model(cls, model: Any) -> Preprocess:
        return cls.for_entry(spec_of(model).entry)

    @classmethod
    def for_entry(cls, e: Any) -> Preprocess:
        """From a catalogue entry (input_size, in_chans, mean, std, interpolation, crop_pct, crop_mode)."""
        return cls(tuple(e.input_size), int(e.in_chans), tuple(e.mean), tuple(e.std),
                   str(getattr(e, "interpolation", "bilinear") or "bilinear"), float(getattr(e, "crop_pct", 1.0)),
                   str(getattr(e, "crop_mode", "center") or "center"))

    def _stats(self, values: tuple[float, ...]) -> np.ndarray:
        v = np.asarray(values, np.float32)
        if len(v) == self.in_chans:
            return v
        if len(v) == 1:
            return np.repeat(v, self.in_chans)
        if self.in_chans == 1:
            return v.mean(keepdims=True)
        return np.resize(v, self.in_chans)

    def to_pil(self, item: Any):
        """An image (path, bytes, PIL image or array) as a PIL image with the model's channels (see .images)."""
        return read_image(item, self.in_chans)

    @cached_property
    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """float32 (mean, std), one value per input channel."""
        return self._stats(self.mean), self._stats(self.std)

    def geometry(self, item: Any):
        """The image (path, bytes, PIL image or array) read in the model's mode, resized and center-cropped as
        timm's eval transform: a uint8 PIL image at the input size."""
        return eval_resize_crop(self.to_pil(item), self.input_size, self.crop_pct, self.crop_mode, self.interpolation)

    def normalize(self, img: Any) -> np.ndarray:
        """A PIL image at the input size as float32 HWC with the model's channels, mean and std."""
        return normalize_batch([img], *self.stats, "NHWC")[0]

    def stack(self, images: Sequence[Any], layout: str = "NHWC") -> np.ndarray:
        """uint8 images at the input size (PIL or arrays) as one normalised float32 batch in ``layout``."""
        if len(images) == 0:
            h, w = self.input_size
            return np.zeros((0, self.in_chans, h, w) if layout == "NCHW" else (0, h, w, self.in_chans), np.float32)
        return normalize_batch(list(images), *self.stats, layout)

    def __call__(self, item: Any) -> np.ndarray:
        """float32 HWC, resized, center-cropped and normalised as timm's eval transform."""
        return self.normalize(self.geometry(item))

    def batch(self, items: Sequence[Any]) -> np.ndarray:
        return self.stack([self.geometry(it) for it in items])


_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def prepare(split: Split, pre: Preprocess, layout: str = "NHWC") -> np.ndarray | None:
    """The whole split preprocessed, float32, in ``layout`` ("NHWC" or "NCHW", C-contiguous with the layout's
    standard strides), when its images are in memory (cached per layout); None for file splits. A torch model's
    batches are then slices or gathers of one NCHW array, as in a plain loop over an in-memory tensor, instead of
    a transposing copy per batch."""
    if not split.in_memory:
        return None
    key = (id(split.images), len(split), pre, layout)
    hit = _CACHE.get(key)
    if hit is None or hit[0] is not split.images:  # the cache holds the source array, so its id stays unique
        if len(_CACHE) >= 8:
            _CACHE.clear()
        hit = _CACHE[key] = (split.images, to_layout(pre.batch(split.images), layout))
    return hit[1]


def as_arrays(split: Split, pre: Preprocess) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 NHWC, y int64) for a split, fully materialised."""
    x = prepare(split, pre)
    if x is None:
        x = pre.batch(split.images)
    return x, split.labels




def augment_image(aug: Augment, pre: Preprocess, x: np.ndarray, seed: int, epoch: int, index: int) -> np.ndarray:
    """One training image augmented with its own (seed, epoch, index) generator."""
    return aug(x, item_rng(seed, epoch, index), *pre.stats)
