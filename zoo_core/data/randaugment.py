"""RandAugment as timm's ``rand_augment_transform("rand-m9-mstd0.5")`` builds it, on PIL images, with numpy
randomness (so a seed gives the same images in either framework, any worker).

Each image gets ``num_ops`` (2) ops chosen uniformly from timm's ``_RAND_TRANSFORMS``; each is applied with
probability 0.5 at magnitude ``magnitude`` (9 of 10) plus Gaussian noise of std 0.5 (clipped to 0..10), signed ops
negated with probability 0.5. The ops and their magnitude ranges are timm's (``auto_augment.py``); the fill colour
of geometric ops is timm's ImageNet-mean grey. As in timm, RandAugment replaces colour jitter when both are asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_LEVEL = 10.0
FILL = (124, 116, 104)  # timm: tuple(round(255 * x) for x in IMAGENET_DEFAULT_MEAN)


def _fill(img: Any) -> Any:
    return FILL if img.mode == "RGB" else FILL[0]


def _affine(img: Any, matrix: tuple[float, ...]) -> Any:
    from PIL import Image

    return img.transform(img.size, Image.Transform.AFFINE, matrix, resample=Image.Resampling.BILINEAR,
                         fillcolor=_fill(img))


def _enhance(kind: str) -> Callable[[Any, float], Any]:
    def op(img: Any, factor: float) -> Any:
        from PIL import ImageEnhance

        return getattr(ImageEnhance, kind)(img).enhance(factor)
    return op


def _pil(name: str) -> Callable[..., Any]:
    def op(img: Any, *args: Any) -> Any:
        from PIL import ImageOps

        return getattr(ImageOps, name)(img, *args)
    return op


def _rotate(img: Any, degrees: float) -> Any:
    from PIL import Image

    return img.rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=_fill(img))


def _solarize_add(img: Any, add: int, thresh: int = 128) -> Any:
    lut = [min(255, i + add) if i < thresh else i for i in range(256)]
    return img.point(lut * (3 if img.mode == "RGB" else 1))


# name -> (op, magnitude -> argument, signed)
OPS: dict[str, tuple[Callable[..., Any], Callable[[float], Any], bool]] = {
    "AutoContrast": (_pil("autocontrast"), lambda m: None, False),
    "Equalize": (_pil("equalize"), lambda m: None, False),
    "Invert": (_pil("invert"), lambda m: None, False),
    "Rotate": (_rotate, lambda m: m / MAX_LEVEL * 30.0, True),
    "Posterize": (_pil("posterize"), lambda m: int(m / MAX_LEVEL * 4) + 4, False),  # timm: increasing variant
    "Solarize": (_pil("solarize"), lambda m: 256 - int(m / MAX_LEVEL * 256), False),
    "SolarizeAdd": (_solarize_add, lambda m: int(m / MAX_LEVEL * 110), False),
    "Color": (_enhance("Color"), lambda m: m / MAX_LEVEL * 0.9, True),
    "Contrast": (_enhance("Contrast"), lambda m: m / MAX_LEVEL * 0.9, True),
    "Brightness": (_enhance("Brightness"), lambda m: m / MAX_LEVEL * 0.9, True),
    "Sharpness": (_enhance("Sharpness"), lambda m: m / MAX_LEVEL * 0.9, True),
    "ShearX": (lambda img, s: _affine(img, (1, s, 0, 0, 1, 0)), lambda m: m / MAX_LEVEL * 0.3, True),
    "ShearY": (lambda img, s: _affine(img, (1, 0, 0, s, 1, 0)), lambda m: m / MAX_LEVEL * 0.3, True),
    "TranslateXRel": (lambda img, f: _affine(img, (1, 0, f * img.size[0], 0, 1, 0)),
                      lambda m: m / MAX_LEVEL * 0.45, True),
    "TranslateYRel": (lambda img, f: _affine(img, (1, 0, 0, 0, 1, f * img.size[1])),
                      lambda m: m / MAX_LEVEL * 0.45, True),
}
ENHANCE = ("Color", "Contrast", "Brightness", "Sharpness")  # timm: factor 1 + signed level


@dataclass(frozen=True)
class RandAugment:
    num_ops: int = 2
    magnitude: float = 9.0
    magnitude_std: float = 0.5
    prob: float = 0.5

    def __call__(self, img: Any, rng: np.random.Generator) -> Any:
        """The image with up to ``num_ops`` random ops applied (a PIL image in mode L or RGB)."""
        names = list(OPS)
        for k in rng.choice(len(names), self.num_ops, replace=True).tolist():
            if rng.random() > self.prob:
                continue
            op, arg, signed = OPS[names[k]]
            m = float(np.clip(rng.normal(self.magnitude, self.magnitude_std), 0.0, MAX_LEVEL))
            level = arg(m)
            if signed and rng.random() < 0.5:
                level = -level
            if names[k] in ENHANCE:
                level = 1.0 + level
            img = op(img) if level is None else op(img, level)
        return img
