"""Preprocessing for one model, in numpy/PIL, identical in both frameworks: channel conversion, resize to the
model's input_size, mean/std normalisation; whole in-memory splits prepared once in the model's layout."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from ..layout import to_layout
from ..models import spec_of
from .augment import Augment, item_rng
from .datasets import Split


def to_uint8(arr: np.ndarray, *, deep_image: bool = False) -> np.ndarray:
    """Pixel values in the 0..255 range preprocessing expects, as uint8.

    uint16 arrays, and with ``deep_image`` (a file Pillow opened in mode I;16 or I: 16-bit PNG/TIFF) any integers,
    are scaled from 0..65535; floats all in [0, 1] (float TIFF, mode F) are scaled by 255, other floats and other
    integers are taken as 0..255. Then rounded and clipped."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16 or (deep_image and arr.dtype.kind in "iu"):
        x = arr.astype(np.float64) * (255.0 / 65535.0)
    elif arr.dtype.kind == "f":
        x = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if x.size and x.min() >= 0 and x.max() <= 1:
            x = x * 255.0
    else:
        x = arr.astype(np.float64) * (255.0 if arr.dtype == bool else 1.0)
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Preprocess:
    """Channel conversion, resize and normalisation for one model, in numpy/PIL (identical in both frameworks)."""

    input_size: tuple[int, int]
    in_chans: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"

    @classmethod
    def for_model(cls, model: Any) -> Preprocess:
        e = spec_of(model).entry
        return cls(tuple(e.input_size), int(e.in_chans), tuple(e.mean), tuple(e.std),
                   str(getattr(e, "interpolation", "bilinear") or "bilinear"))

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
        """An image (path or uint8 array) as a PIL image with the model's channels."""
        from PIL import Image

        if isinstance(item, (str, os.PathLike)):
            try:
                with Image.open(item) as f:
                    f.load()
                    img = f.copy()
                if img.mode in ("I", "F") or img.mode.startswith("I;16"):
                    img = Image.fromarray(to_uint8(np.asarray(img), deep_image=True))
                return self._channels(img)
            except Exception as exc:  # PIL raises many types for bad files (OSError, SyntaxError, EOFError, ...)
                reason = " ".join(str(exc).split())[:200]
                raise DataError(f"{item} is not a readable image ({type(exc).__name__}: {reason}); replace or remove "
                                "the file") from None
        else:
            arr = to_uint8(np.asarray(item))
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[:, :, 0]
            img = Image.fromarray(arr)
        return self._channels(img)

    def _channels(self, img: Any) -> Any:
        """A PIL image with the model's channels (transparency composited over black)."""
        from PIL import Image

        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(background, img)
        return img.convert("L" if self.in_chans == 1 else "RGB")

    def __call__(self, item: Any) -> np.ndarray:
        """float32 HWC, resized and normalised."""
        from PIL import Image

        img = self.to_pil(item)
        h, w = self.input_size
        if img.size != (w, h):
            method = {"bicubic": Image.BICUBIC, "nearest": Image.NEAREST}.get(self.interpolation, Image.BILINEAR)
            img = img.resize((w, h), method)
        x = np.asarray(img, np.float32)
        if x.ndim == 2:
            x = x[:, :, None]
        if x.shape[2] != self.in_chans:  # RGB to >3 or 2 channels: repeat/cut
            x = np.resize(x.transpose(2, 0, 1), (self.in_chans, h, w)).transpose(1, 2, 0)
        x = x / 255.0
        return ((x - self._stats(self.mean)) / self._stats(self.std)).astype(np.float32)

    def batch(self, items: Sequence[Any]) -> np.ndarray:
        if len(items) == 0:
            return np.zeros((0, *self.input_size, self.in_chans), np.float32)
        return np.stack([self(it) for it in items])


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
    return aug(x, item_rng(seed, epoch, index), pre._stats(pre.mean), pre._stats(pre.std))
