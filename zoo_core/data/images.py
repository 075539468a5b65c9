"""Reading one image as the user sees it, as a PIL image in the model's channel mode ("L" or "RGB").

- Sources: a path, encoded bytes (a tar shard member, a Hub dataset cell), a PIL image, or a numpy array.
- EXIF orientation is applied (a phone photo taken upright is read upright). timm, torchvision's ``ImageFolder``
  and Keras's ``image_dataset_from_directory`` / ``load_img`` do not apply it: they read the stored pixels.
- 16-bit (I;16, I) and float (F) images are scaled to 0..255: 0..65535 maps to 0..255, floats in [0, 1] are
  multiplied by 255 (timm and Keras convert with Pillow, which clips 16-bit values above 255 to white).
- Palette (P), CMYK, YCbCr, 1-bit and other modes convert with Pillow; images with alpha (RGBA, LA, PA, P with a
  transparent colour) are composited on black, then converted to "L" or "RGB".
"""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np

from ..errors import DataError

ORIENTATION = 0x0112  # the EXIF orientation tag
DEEP_MODES = ("I", "F", "I;16", "I;16B", "I;16L", "I;16N")


def to_uint8(arr: np.ndarray, *, deep_image: bool = False) -> np.ndarray:
    """Pixel values as uint8 0..255: uint16 (and any integers with ``deep_image``, a 16-bit file) scaled from
    0..65535; floats all in [0, 1] multiplied by 255, other floats and integers taken as 0..255; rounded, clipped."""
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


def _name(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("path") or "<image bytes>")
    return "<image bytes>" if isinstance(item, (bytes, bytearray, memoryview)) else str(item)


def open_image(item: Any):
    """A loaded PIL image from a path, bytes, an object with ``read_bytes()`` (a tar shard member), a
    ``{"bytes": ..., "path": ...}`` dict (a Hub ``Image`` cell), a PIL image or a numpy array; a file that cannot
    be decoded is a one-line :class:`DataError` naming it."""
    from PIL import Image

    if isinstance(item, Image.Image):
        return item
    if isinstance(item, np.ndarray):
        arr = to_uint8(item)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
            raise DataError(f"an image array must be HxW, HxWx1, HxWx3 or HxWx4, got shape {item.shape}")
        return Image.fromarray(np.ascontiguousarray(arr))
    if isinstance(item, dict):
        source = item.get("bytes") or item.get("path")
        if source is None:
            raise DataError("an image cell has neither bytes nor a path; check the dataset's image column")
        return open_image(source)
    source = item
    if not isinstance(item, (str, os.PathLike, bytes, bytearray, memoryview)) and hasattr(item, "read_bytes"):
        source = item.read_bytes()  # a member of a tar shard
    f = None
    try:  # load() reads the whole file and closes a file Pillow opened itself: no copy needed
        f = Image.open(io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source)
        f.load()
        img = upright(f) if f.getexif().get(ORIENTATION, 1) != 1 else f
        if img is f and getattr(f, "fp", None) is not None:  # a file Pillow keeps open (multi-frame formats)
            img = f.copy()
        if img is not f:
            f.close()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        if f is not None:
            f.close()
        reason = " ".join(str(exc).split())[:200]
        raise DataError(f"{_name(item)} is not a readable image ({type(exc).__name__}: {reason}); replace or "
                        "remove the file") from None
    return img


def upright(img: Any):
    """The image turned as its EXIF orientation says (Pillow's ``ImageOps.exif_transpose``)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(img)


def to_mode(img: Any, in_chans: int = 3):
    """A PIL image converted as :mod:`this module <zoo_core.data.images>` describes, in mode "L" (``in_chans``
    1) or "RGB" (any other channel count; the caller repeats or cuts channels)."""
    from PIL import Image

    if "exif" in img.info and img.getexif().get(ORIENTATION, 1) != 1:
        img = upright(img)
    if img.mode in DEEP_MODES:
        img = Image.fromarray(to_uint8(np.asarray(img), deep_image=img.mode != "F"))
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", img.size, (0, 0, 0, 255)), img)
    target = "L" if in_chans == 1 else "RGB"
    if img.mode != target:
        try:
            img = img.convert(target)
        except ValueError as exc:
            raise DataError(f"cannot convert a {img.mode} image to {target} ({exc}); save it as RGB or grey") from None
    return img


def read_image(item: Any, in_chans: int = 3):
    """An image from any source (see :func:`open_image`) as the user sees it, in mode "L" or "RGB"."""
    return to_mode(open_image(item), in_chans)


def is_path(item: Any) -> bool:
    return isinstance(item, (str, os.PathLike))
