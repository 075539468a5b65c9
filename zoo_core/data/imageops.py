"""timm's image transforms, op for op, on PIL images with numpy randomness (no torch needed).

Each op does what the torchvision/timm op timm's ``create_transform`` builds does, with the same Pillow calls, so
the pixels are equal (tested against timm and torchvision): the eval resize + center crop (``crop_pct``, ``center``
or ``squash``), the train random resized crop on the original image, horizontal flip, colour jitter, and
ToTensor + Normalize's arithmetic (``normalize_batch``). Random parameters come from a
``numpy.random.Generator``, so a seed gives the same images in any process and either framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values


def _resize(img: Any, h: int, w: int, interpolation: str):
    """torchvision's PIL resize: the image itself when the size already matches."""
    return img if img.size == (w, h) else img.resize((w, h), FILTERS[interpolation])


def center_crop(img: Any, h: int, w: int):
    """torchvision's ``CenterCrop`` (offsets rounded half to even, as Python's ``round``)."""
    width, height = img.size
    if (width, height) == (w, h):
        return img
    if w > width or h > height:  # pad with black first, as torchvision does
        from PIL import Image

        padded = Image.new(img.mode, (max(w, width), max(h, height)))
        padded.paste(img, ((w - width) // 2 if w > width else 0, (h - height) // 2 if h > height else 0))
        img, (width, height) = padded, padded.size
    top, left = int(round((height - h) / 2.0)), int(round((width - w) / 2.0))
    return img.crop((left, top, left + w, top + h))


def eval_resize_crop(img: Any, size: tuple[int, int], crop_pct: float = 1.0, crop_mode: str = "center",
                     interpolation: str = "bilinear"):
    """timm's eval geometry (``transforms_imagenet_eval``): resize to floor(size / crop_pct) (``center``: the
    shorter side, keeping the aspect ratio; ``squash``: both sides), then center-crop ``size`` (height, width)."""
    h, w = int(size[0]), int(size[1])
    sh, sw = math.floor(h / crop_pct), math.floor(w / crop_pct)
    width, height = img.size
    if crop_mode == "squash":
        img = _resize(img, sh, sw, interpolation)
    elif sh == sw:  # torchvision Resize(int): the shorter side to sh, the longer truncated
        short, long = min(width, height), max(width, height)
        new_long = int(sh * long / short)
        nh, nw = (new_long, sh) if width <= height else (sh, new_long)
        img = _resize(img, nh, nw, interpolation)
    else:  # timm's ResizeKeepRatio(scale_size): the side closer to its target matches it, the aspect ratio kept
        ratio = min(height / sh, width / sw)
        img = _resize(img, round(height / ratio), round(width / ratio), interpolation)
    return center_crop(img, h, w)


def aligned_empty(shape: tuple[int, ...], align: int = 64) -> np.ndarray:
    """An uninitialised float32 array whose data starts on an ``align``-byte boundary (TensorFlow wraps such an
    array without copying it; numpy's own allocation is only 16-byte aligned)."""
    size = int(np.prod(shape)) * 4
    raw = np.empty(size + align, np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + size].view(np.float32).reshape(shape)


def normalize_batch(images: list[Any], mean: Any, std: Any, layout: str) -> np.ndarray:
    """uint8 images (PIL or HW/HWC arrays, all one size) as one float32 batch in ``layout`` ("NHWC" or "NCHW"),
    normalised per channel as ToTensor + Normalize compute it: (v / 255 - mean) / std in float32, one IEEE-rounded
    operation at a time, so the floats are torchvision's. Written straight into the batch, with no float
    intermediate and no transposing copy. Channel c of the batch reads channel c mod the image's channels (grey
    repeated to RGB, RGB cut or repeated to 2 or 4 channels, as ``np.resize`` would)."""
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    chans = len(mean)
    arrays = [np.asarray(img, dtype=np.uint8) for img in images]
    if not arrays:
        raise ValueError("normalize_batch needs at least one image")
    h, w = arrays[0].shape[:2]
    if layout == "NCHW":
        out = aligned_empty((len(arrays), chans, h, w))
        shift, scale = mean[:, None, None], std[:, None, None]
    else:  # rows of w * chans values: a long contiguous inner loop instead of one of length chans
        out = aligned_empty((len(arrays), h, w, chans))
        shift, scale = np.tile(mean, w), np.tile(std, w)
    for n, x in enumerate(arrays):
        x = x[:, :, None] if x.ndim == 2 else x
        if x.shape[2] != chans:
            x = x[:, :, np.arange(chans) % x.shape[2]]
        src, dst = (x.transpose(2, 0, 1), out[n]) if layout == "NCHW" else (x.reshape(h, -1), out[n].reshape(h, -1))
        np.divide(src, np.float32(255.0), out=dst)
        np.subtract(dst, shift, out=dst)
        np.divide(dst, scale, out=dst)
    return out


@dataclass(frozen=True)
class CropParams:
    """A crop box of the original image: top, left, height, width (torchvision's i, j, h, w)."""

    top: int
    left: int
    height: int
    width: int


def random_resized_crop_params(width: int, height: int, rng: np.random.Generator,
                               scale: tuple[float, float] = (0.08, 1.0),
                               ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> CropParams:
    """torchvision's ``RandomResizedCrop.get_params`` (10 tries of an area fraction in ``scale`` and a
    log-uniform aspect ratio in ``ratio``, then the central crop clamped to ``ratio``), drawn from ``rng``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return CropParams(int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w)
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return CropParams((height - h) // 2, (width - w) // 2, h, w)


def resized_crop(img: Any, box: CropParams, size: tuple[int, int], interpolation: str = "bilinear"):
    """torchvision's ``F.resized_crop`` on a PIL image: crop ``box``, resize to ``size`` (height, width)."""
    img = img.crop((box.left, box.top, box.left + box.width, box.top + box.height))
    return _resize(img, int(size[0]), int(size[1]), interpolation)


def hflip(img: Any):
    from PIL import Image

    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


@dataclass(frozen=True)
class JitterParams:
    """torchvision ``ColorJitter`` parameters: the order of the ops (0 brightness, 1 contrast, 2 saturation) and
    their factors."""

    order: tuple[int, ...]
    brightness: float
    contrast: float
    saturation: float


def color_jitter_params(rng: np.random.Generator, brightness: float = 0.4, contrast: float = 0.4,
                        saturation: float = 0.4) -> JitterParams:
    """A random order and factors drawn uniformly from [max(0, 1 - s), 1 + s] (``ColorJitter(b, c, s)``)."""
    order = tuple(int(i) for i in rng.permutation(3))
    b, c, s = (float(rng.uniform(max(0.0, 1 - v), 1 + v)) if v else 1.0 for v in (brightness, contrast, saturation))
    return JitterParams(order, b, c, s)


def color_jitter(img: Any, p: JitterParams):
    """torchvision's PIL ``adjust_brightness``/``adjust_contrast``/``adjust_saturation`` (Pillow's ImageEnhance) in
    ``p.order``; a factor of 1 is skipped."""
    from PIL import ImageEnhance

    ops = (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color)
    factors = (p.brightness, p.contrast, p.saturation)
    for i in p.order:
        if factors[i] != 1.0:
            img = ops[i](img).enhance(factors[i])
    return img
