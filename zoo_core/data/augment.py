"""Train-time augmentation in numpy, identical in both frameworks.

Each image gets its own generator seeded from (run seed, epoch, image index), so an augmented run is reproducible,
resumable, independent of DataLoader workers, and the same in PyTorch and TensorFlow. Images are float32 HWC,
already normalised with the model's mean/std; colour changes are applied to the de-normalised pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ZooError
from .randaugment import RandAugment

OPS = ("crop", "flip", "jitter", "randaugment")


@dataclass(frozen=True)
class Augment:
    """``crop``: random resized crop (area fraction ``scale``, aspect ``ratio``, timm's defaults); ``flip``:
    horizontal flip with probability 0.5; ``jitter``: brightness, contrast and saturation factors drawn from
    [1 - jitter, 1 + jitter]; ``randaugment``: timm's RandAugment (m9, std 0.5; :mod:`.randaugment`), which
    replaces the jitter as in timm. Image files are augmented on the original image by
    :func:`zoo_core.data.transforms.train_image` (timm's ops); in-memory images already at the input size (the
    built-in digits) by :meth:`__call__` on the preprocessed array, the fast path."""

    crop: bool = True
    flip: bool = True
    jitter: float = 0.4
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    randaugment: bool = False

    @classmethod
    def parse(cls, spec: bool | str | Sequence[str] | Augment | None) -> Augment | None:
        """None/False: no augmentation; True: crop, flip, jitter; "crop,flip,randaugment": only those."""
        if spec is None or spec is False or spec == "" or spec == "none":
            return None
        if isinstance(spec, Augment):
            return spec
        if spec is True:
            return cls()
        names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
        unknown = [n for n in names if n not in OPS]
        if unknown:
            raise ZooError(f"unknown augmentation {', '.join(unknown)}; choose from: {', '.join(OPS)}")
        return cls(crop="crop" in names, flip="flip" in names, jitter=0.4 if "jitter" in names else 0.0,
                   randaugment="randaugment" in names)

    def __call__(self, x: np.ndarray, rng: np.random.Generator, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        if self.crop:
            x = self._resized_crop(x, rng)
        if self.flip and rng.random() < 0.5:
            x = x[:, ::-1]
        if self.randaugment:
            x = (self._randaugment(x * std + mean, rng) - mean) / std
        elif self.jitter:
            x = (self._jitter(x * std + mean, rng) - mean) / std
        return np.ascontiguousarray(x, dtype=np.float32)

    def _resized_crop(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = x.shape[:2]
        ch, cw = h, w
        for _ in range(10):  # torchvision's RandomResizedCrop sampling, with its central fallback
            area = h * w * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
            tw, th = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < tw <= w and 0 < th <= h:
                ch, cw = th, tw
                break
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
        return _bilinear(x, y0, x0, ch, cw, h, w)

    @staticmethod
    def _randaugment(raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image

        u8 = np.clip(np.round(raw * 255.0), 0, 255).astype(np.uint8)
        img = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)
        out = np.asarray(RandAugment()(img, rng), np.float32) / 255.0
        return out.reshape(raw.shape)

    def _jitter(self, raw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        lo, hi = 1.0 - self.jitter, 1.0 + self.jitter
        b, c, s = rng.uniform(lo, hi, size=3)
        raw = raw * b
        raw = (raw - raw.mean()) * c + raw.mean()
        if raw.shape[2] == 3:
            gray = raw @ np.array([0.299, 0.587, 0.114], np.float32)
            raw = (raw - gray[..., None]) * s + gray[..., None]
        return np.clip(raw, 0.0, 1.0)


def _bilinear(x: np.ndarray, y0: int, x0: int, ch: int, cw: int, h: int, w: int) -> np.ndarray:
    """The crop [y0:y0+ch, x0:x0+cw] of an HWC image resized to h x w (half-pixel centres, edge clamp)."""
    ys = np.clip(y0 + (np.arange(h) + 0.5) * ch / h - 0.5, 0, x.shape[0] - 1)
    xs = np.clip(x0 + (np.arange(w) + 0.5) * cw / w - 0.5, 0, x.shape[1] - 1)
    yi, xi = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    yj, xj = np.minimum(yi + 1, x.shape[0] - 1), np.minimum(xi + 1, x.shape[1] - 1)
    fy, fx = (ys - yi)[:, None, None], (xs - xi)[None, :, None]
    top = x[yi][:, xi] * (1 - fx) + x[yi][:, xj] * fx
    bottom = x[yj][:, xi] * (1 - fx) + x[yj][:, xj] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one image in one epoch of one run."""
    return np.random.default_rng((int(seed), int(epoch), int(index)))
