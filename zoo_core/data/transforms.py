"""``zoo.transform(model_or_name, train=False)``: the model's image transform as one callable, the same numbers in
PyTorch and TensorFlow because it is numpy/PIL.

- Eval (``train=False``) equals timm's ``create_transform(**resolve_data_config(model=...))``: resize the shorter
  side to floor(size / crop_pct) with the entry's interpolation, center-crop (``crop_mode: squash`` resizes both
  sides), ToTensor + Normalize; returned as float32 HWC.
- Train (``train=True``) is timm's ``transforms_imagenet_train`` without its extras: random resized crop of the
  ORIGINAL image (area 8-100 %, aspect 3/4-4/3, the entry's interpolation), horizontal flip, colour jitter 0.4
  (brightness, contrast, saturation in a random order), normalise. The random numbers come from a numpy generator;
  the loaders give each image its own, seeded by (seed, epoch, index).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from ..models import get_entry, spec_of
from .augment import Augment, item_rng
from .datasets import Split
from .imageops import (
    color_jitter,
    color_jitter_params,
    eval_resize_crop,
    hflip,
    random_resized_crop_params,
    resized_crop,
)
from .preprocess import Preprocess
from .randaugment import RandAugment


def train_image(aug: Augment, pre: Preprocess, item: Any, rng: np.random.Generator) -> np.ndarray:
    """One training image (path, bytes, PIL image or array) as timm augments it, float32 HWC at the input size."""
    return pre.normalize(train_pixels(aug, pre, item, rng))


def train_pixels(aug: Augment, pre: Preprocess, item: Any, rng: np.random.Generator):
    """One training image as timm augments it before normalising: a uint8 PIL image at the input size."""
    img = pre.to_pil(item)
    if aug.crop:
        box = random_resized_crop_params(img.size[0], img.size[1], rng, aug.scale, aug.ratio)
        img = resized_crop(img, box, pre.input_size, pre.interpolation)
    else:
        img = eval_geometry(pre, img)
    if aug.flip and rng.random() < 0.5:
        img = hflip(img)
    if aug.randaugment:  # timm: auto/rand augment takes the colour jitter's place
        img = RandAugment()(img, rng)
    elif aug.jitter:
        img = color_jitter(img, color_jitter_params(rng, aug.jitter, aug.jitter, aug.jitter))
    return img


log = logging.getLogger("zoo.data")


def load_or_skip(load: Callable[[int], np.ndarray], i: int, split: Split, skipped: list[str]) -> np.ndarray | None:
    """``load(i)``, or None when image ``i`` of ``split`` cannot be decoded: then it is named in a warning and in
    ``skipped`` and ``split.skipped`` (a strict split raises the one-line :class:`DataError` instead)."""
    try:
        return load(i)
    except DataError as exc:
        if split.strict:
            raise
        name = str(split.image(i))
        warnings.warn(f"skipped: {exc}", stacklevel=2)
        skipped.append(name)
        if name not in split.skipped:
            split.skipped.append(name)
        return None


def eval_geometry(pre: Preprocess, img: Any):
    """The eval resize + center crop of a PIL image already in the model's mode."""
    return eval_resize_crop(img, pre.input_size, pre.crop_pct, pre.crop_mode, pre.interpolation)


@dataclass
class Transform:
    """A model's transform: ``t(image)`` -> float32 HWC (path, bytes, PIL image or uint8/uint16/float array).

    ``augment`` (train only) is an :class:`~zoo_core.data.augment.Augment`; a train transform draws from its own
    generator seeded with ``seed`` (or from ``rng=`` per call), so the same seed gives the same images."""

    pre: Preprocess
    augment: Augment | None = None
    seed: int | None = None
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    @property
    def train(self) -> bool:
        return self.augment is not None

    def __call__(self, item: Any, rng: np.random.Generator | None = None) -> np.ndarray:
        if self.augment is None:
            return self.pre(item)
        return train_image(self.augment, self.pre, item, self._rng if rng is None else rng)

    def at(self, item: Any, seed: int, epoch: int, index: int) -> np.ndarray:
        """The image as the loaders give it: a train transform draws from (seed, epoch, index)."""
        return self(item, item_rng(seed, epoch, index) if self.augment is not None else None)

    def timm_config(self) -> dict[str, Any]:
        """The data config timm's ``create_transform(**config)`` takes for the same eval transform."""
        p = self.pre
        return {"input_size": (p.in_chans, *p.input_size), "interpolation": p.interpolation, "mean": p.mean,
                "std": p.std, "crop_pct": p.crop_pct, "crop_mode": p.crop_mode}


def transform(model_or_name: Any, train: bool = False, *, augment: Any = True, seed: int | None = None) -> Transform:
    """The transform of a model (a built model, a catalogue name or alias, or a :class:`Preprocess`).

    ``train=False``: timm's eval transform. ``train=True``: timm's train transform; ``augment`` picks the ops
    (True: crop, flip and jitter; "crop,flip"; or an :class:`Augment`), ``seed`` seeds its generator."""
    if isinstance(model_or_name, Preprocess):
        pre = model_or_name
    elif isinstance(model_or_name, str):
        pre = Preprocess.for_entry(get_entry(model_or_name))
    else:
        pre = Preprocess.for_entry(spec_of(model_or_name).entry)
    aug = Augment.parse(augment) if train else None
    if train and aug is None:
        aug = Augment(crop=False, flip=False, jitter=0.0)
    return Transform(pre, aug, seed)
