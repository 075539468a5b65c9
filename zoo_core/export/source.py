"""The model an export starts from (a zoo model object, a checkpoint directory, a Hub handle or a registry name),
in the framework the target format needs, plus the fixed input batches and the preprocessing metadata."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends, factory, hub, models
from .._version import __version__
from ..checkpoint.format import read_config
from ..data import Dataset, Preprocess, as_arrays, open_dataset
from ..errors import ZooError
from ..frameworks import canonical_framework
from ..layout import to_layout

log = logging.getLogger("zoo.export")

INPUT_NAME = {"torch": "pixel_values", "tf": "pixel_values"}
OUTPUT_NAME = "logits"


@dataclass
class Source:
    model: Any
    framework: str
    description: str
    entry: Any
    labels: list[str] | None

    @property
    def layout(self) -> str:
        return "NCHW" if self.framework == "torch" else "NHWC"

    def batch(self, n: int, seed: int = 0) -> np.ndarray:
        """A fixed seeded batch of standard-normal inputs (normalised pixels) in this framework's layout."""
        h, w = self.entry.input_size
        x = np.random.default_rng(seed).standard_normal((n, self.entry.in_chans, h, w)).astype(np.float32)
        return to_layout(x, self.framework, source="NCHW")

    def input_shape(self) -> list[Any]:
        h, w = self.entry.input_size
        c = self.entry.in_chans
        return ["batch", c, h, w] if self.framework == "torch" else ["batch", h, w, c]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return backends.get(self.framework).predict(self.model, x)

    def metadata(self) -> dict[str, Any]:
        """What a consumer needs to preprocess images for the exported model."""
        e = self.entry
        labels = self.labels or [str(i) for i in range(e.num_classes)]
        return {
            "model": e.name,
            "architecture": e.architecture,
            "framework": self.framework,
            "layout": self.layout,
            "input_name": INPUT_NAME[self.framework],
            "output_name": OUTPUT_NAME,
            "input_size": list(e.input_size),
            "in_chans": e.in_chans,
            "num_classes": e.num_classes,
            "labels": list(labels),
            "mean": list(e.mean),
            "std": list(e.std),
            "interpolation": e.interpolation,
            "crop_pct": e.crop_pct,
            "crop_mode": e.crop_mode,
            "preprocess": ("timm's eval transform: resize the shorter side to floor(input_size / crop_pct) with "
                           "interpolation (crop_mode squash: both sides), center-crop input_size, pixels / 255, then "
                           "(x - mean) / std per channel"),
            "zoo_version": __version__,
        }


def _looks_like_path(text: str) -> bool:
    return os.sep in text or "/" in text or os.path.isdir(text)


def _saved_from(path: str) -> str | None:
    return (read_config(path).get("zoo") or {}).get("saved_from")


def resolve(src: Any, fmt: str, native: str | None, framework: str | None) -> Source:
    """Load or convert ``src`` into the framework the format needs (``native``), else the requested one."""
    wanted = canonical_framework(framework) if framework else None
    if wanted and native and wanted != native:
        raise ZooError(f"{fmt} is exported from {'PyTorch' if native == 'torch' else 'TensorFlow'}; drop --framework "
                       f"or pass --framework {native} (any zoo checkpoint loads in both frameworks)")
    target = native or wanted
    if isinstance(src, (str, os.PathLike)):
        text = os.fspath(src)
        if text.startswith("hf://"):
            text = str(hub.pull(text))
        if _looks_like_path(text):
            if not Path(text).is_dir():
                raise ZooError(f"{text} is not a checkpoint directory (no such directory)")
            target = target or _saved_from(text) or "torch"
        target = target or "torch"
        model = factory.load(text, target)
        return Source(model, target, text, models.spec_of(model).entry, getattr(model, "zoo_labels", None))
    fw = backends.framework_of(src)
    spec = models.spec_of(src)
    labels = getattr(src, "zoo_labels", None)
    if target and target != fw:
        other = models.build(spec.entry, target)
        backends.get(target).from_canonical(other, backends.get(fw).to_canonical(src))
        if labels:
            other.zoo_labels = list(labels)
        log.info("%s: moved the %s model's weights to %s for the export", fmt, fw, target)
        return Source(other, target, f"{spec.entry.name} ({fw} model, converted to {target})", spec.entry, labels)
    return Source(src, fw, f"{spec.entry.name} ({fw} model)", spec.entry, labels)


def open_data(data: Any, split: Sequence[float] | None = None, seed: int = 0) -> Any:
    """A Dataset from a Dataset, a built-in name or an image folder."""
    if data is None:
        return None

    if isinstance(data, Dataset):
        return data
    return open_dataset(data, split=tuple(split) if split else (0.7, 0.2, 0.1), seed=seed)


def split_arrays(source: Source, split: Any, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x in the source's layout, labels) for a data split, preprocessed for the model; ``limit`` draws a seeded
    random subset."""
    if len(split) == 0:
        raise ZooError(f"the {split.name} split is empty; choose split fractions that give it images")
    x, y = as_arrays(split, Preprocess.for_model(source.model))
    if limit is not None and len(y) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(y), limit, replace=False))
        x, y = x[keep], y[keep]
    return to_layout(np.asarray(x, np.float32), source.framework), np.asarray(y)


def eval_split(data: Any, name: str) -> Any:
    """The split accuracy is measured on: the named one, else test, else val."""
    split = data.split(name)
    if len(split):
        return split
    for fallback in ("test", "val"):
        if len(data.split(fallback)):
            log.warning("the %s split is empty; measuring accuracy on %s", name, fallback)
            return data.split(fallback)
    raise ZooError(f"{data.name or 'the dataset'} has no test or val images to measure accuracy on; "
                   "pass --split with a test fraction, e.g. 0.8,0,0.2")
