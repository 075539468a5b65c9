"""Ask a model what is in a picture: ``zoo.predict(model, images)`` -> the top-k labels per image.

Images go through the model's own eval preprocessing (:class:`zoo_core.data.Preprocess`, the transform
``zoo eval`` uses) and the model's batch predictor (the one ``zoo.evaluate`` uses), so a label predicted here is the
label ``zoo.evaluate`` counts. Label names are the checkpoint's ``label_names`` (``model.zoo_labels``), else the
class indices as text. Imports no framework until a model runs.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, training
from .data import IMAGE_EXTENSIONS, Preprocess
from .errors import DataError, ZooError
from .factory import load
from .layout import to_layout
from .models import spec_of

log = logging.getLogger("zoo.predict")


@dataclass(frozen=True)
class Label:
    """One of the top-k: the class ``index``, its ``label`` name and its softmax ``probability``."""

    label: str
    index: int
    probability: float

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "index": self.index, "probability": self.probability}


@dataclass
class Prediction:
    """The top-k of one image, most probable first; ``error`` says why an unreadable image has none."""

    source: str
    top: list[Label] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str | None:
        """The top-1 label name (None for an unreadable image)."""
        return self.top[0].label if self.top else None

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.source, "predictions": [t.to_dict() for t in self.top], "error": self.error}


def label_names(model: Any) -> list[str]:
    """The model's class names: the checkpoint's ``label_names``, else ``"0"``, ``"1"``, ... ."""
    n = int(spec_of(model).entry.num_classes)
    labels = getattr(model, "zoo_labels", None)
    if labels and len(labels) == n:
        return [str(label) for label in labels]
    return [str(i) for i in range(n)]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k(logits: np.ndarray, labels: Sequence[str], k: int = 5) -> list[list[Label]]:
    """The k most probable classes of each row of ``logits`` (ties: the lower index first, as argmax)."""
    probs = softmax(np.atleast_2d(logits))
    k = max(1, min(int(k), probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return [[Label(labels[i], int(i), float(row[i])) for i in idx] for row, idx in zip(probs, order, strict=True)]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def expand_inputs(images: Any) -> list[tuple[str, Any]]:
    """(name, item) pairs for every image given: a path (a folder means every image file under it), a PIL image,
    a uint8 array (HW or HWC one image; NHWC, or NHW when the last axis is not 1, 3 or 4, a batch), or a list."""
    if isinstance(images, (str, os.PathLike)) or _is_pil(images) or isinstance(images, np.ndarray):
        images = [images]
    if not isinstance(images, Iterable):
        raise ZooError(f"images must be paths, PIL images, uint8 arrays or a list of them, not {type(images).__name__}")
    out: list[tuple[str, Any]] = []
    for n, item in enumerate(images):
        if isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if path.is_dir():
                found = _images_in(path)
                if not found:
                    log.warning("%s holds no image files (%s)", path, ", ".join(IMAGE_EXTENSIONS))
                out += [(str(p), p) for p in found]
            else:
                out.append((str(path), path))
        elif isinstance(item, np.ndarray) and (item.ndim == 4 or (item.ndim == 3 and item.shape[-1] not in (1, 3, 4))):
            out += [(f"array[{n}][{i}]", item[i]) for i in range(len(item))]
        elif isinstance(item, np.ndarray) or _is_pil(item):
            out.append((f"{'array' if isinstance(item, np.ndarray) else 'image'}[{n}]", item))
        else:
            raise ZooError(f"image {n} is a {type(item).__name__}; give a path, a PIL image or a uint8 array")
    return out


def _is_pil(obj: Any) -> bool:
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(obj, pil.Image)


def _describe(item: Any, exc: Exception) -> str:
    """Why an image could not be read, in a few words (the reader's own message names the file)."""
    if isinstance(item, (str, os.PathLike)) and not os.path.exists(item):
        return "no such file"
    if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
        return "is a directory"
    if isinstance(exc, DataError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"not a readable image ({type(exc).__name__}{': ' + text if text else ''})"


def predict(model: Any, images: Any, top_k: int = 5, batch_size: int = 32, *, framework: str = "torch",
            progress: bool | None = None) -> list[Prediction]:
    """The top-k (label, probability) of each image, with the model's label names.

    ``model``: a torch/Keras model built by the zoo, or anything ``zoo.load`` takes (a checkpoint directory, a
    registry name, a ``hf://`` handle), loaded in ``framework``. ``images``: paths, folders, PIL images, uint8
    arrays, or a list of them. An unreadable file gets a :class:`Prediction` with ``error`` set and no labels; the
    others are predicted. ``progress``: a tqdm bar on stderr (default: when stderr is a terminal and there are
    more images than one batch).
    """
    if batch_size < 1 or top_k < 1:
        raise ZooError(f"batch_size and top_k must be >= 1, got batch_size={batch_size}, top_k={top_k}")
    if isinstance(model, (str, os.PathLike)):
        model = load(str(model), framework)
    items = expand_inputs(images)
    runner = Runner(model)
    results: list[Prediction] = []
    if progress is None:
        progress = len(items) > batch_size and sys.stderr.isatty()
    bar = _bar(len(items)) if progress else None
    try:
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            results += runner.predict_items(chunk, top_k)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    for r in results:
        if r.error:
            log.warning("%s: %s", r.source, r.error)
    return results


def _bar(total: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc="predict", file=sys.stderr)


class Runner:
    """A model ready to predict: its preprocessing, layout, label names and batch predictor (the one
    ``zoo.evaluate`` uses). ``zoo serve`` runs its batches through one of these."""

    def __init__(self, model: Any):
        self.model = model
        self.preprocess = Preprocess.for_model(model)
        self.layout: str = backends.of(model).input_layout()
        self.labels = label_names(model)
        self._predict: Callable[[np.ndarray], np.ndarray] = training.batch_predictor(model)  # eval mode per batch

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One image's shape in the model's layout: (C, H, W) for torch, (H, W, C) for Keras."""
        h, w = self.preprocess.input_size
        c = self.preprocess.in_chans
        return (c, h, w) if self.layout == "NCHW" else (h, w, c)

    def image_tensor(self, item: Any) -> np.ndarray:
        """One image (path, PIL image or uint8 array) preprocessed, float32 in the model's layout, no batch axis."""
        x = self.preprocess(item)
        return x.transpose(2, 0, 1).copy() if self.layout == "NCHW" else x

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Logits (float32) for a float batch in the model's layout."""
        return np.asarray(self._predict(np.ascontiguousarray(x, np.float32)), np.float32)

    def predict_items(self, items: Sequence[tuple[str, Any]], k: int) -> list[Prediction]:
        """Predict (name, image) pairs as one batch; unreadable ones get an error instead."""
        out = [Prediction(name) for name, _ in items]
        good, arrays = [], []
        for i, (_, item) in enumerate(items):
            try:
                arrays.append(self.preprocess(item))
                good.append(i)
            except Exception as exc:  # PIL raises many types for bad or missing files
                out[i].error = _describe(item, exc)
        if arrays:
            tops = top_k(self.logits(to_layout(np.stack(arrays), self.layout)), self.labels, k)
            for i, top in zip(good, tops, strict=True):
                out[i].top = top
        return out
