"""Evaluation: logits for a whole split in inference mode, and the classification report (+ files)."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends
from ..data.datasets import Dataset, Split
from ..data.loader import batches
from ..data.preprocess import Preprocess, prepare
from ..data.stream_split import StreamSplit
from ..errors import ZooError
from ..fileio import atomic_write_text
from ..models import spec_of
from .metrics import classification_report
from .reports import CONFUSION_NAME, REPORT_NAME, plot_confusion


def batch_predictor(model: Any):
    """The per-batch prediction function ``predict_split`` uses: a float batch in the model's layout (NCHW torch,
    NHWC Keras) -> numpy logits, in inference mode (a compiled graph for Keras, inference_mode for torch)."""
    return backends.of(model).predictor(model)


@contextlib.contextmanager
def _inference_mode(model: Any):
    """A torch model in eval mode for the block, its train/eval state restored after (Keras: nothing to do)."""
    was_training = getattr(model, "training", None)
    if was_training is True and callable(getattr(model, "eval", None)):
        model.eval()
        try:
            yield
        finally:
            model.train(True)
    else:
        yield


def predict_labeled(model: Any, split: Any, batch_size: int = 256,
                    workers: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """(logits, labels) of the images of a split that can be read (preprocessed for the model, in inference
    mode); an image file that cannot be decoded is skipped and named in ``split.skipped`` (a strict split raises),
    as in training. File splits are read by :func:`zoo_core.data.batches`."""
    if not len(split):
        raise ZooError(f"the {split.name} split is empty; there is nothing to predict")
    pre = Preprocess.for_model(model)
    layout = backends.of(model).input_layout()
    predict = batch_predictor(model)
    x_all = prepare(split, pre, layout)  # in memory: every batch is a slice, already in the model's layout
    out, labels = [], []
    with _inference_mode(model):  # once for the split, not per batch
        if x_all is not None:
            for start in range(0, len(split), batch_size):
                out.append(predict(x_all[start:start + batch_size]))
            labels = [split.labels]
        else:
            fw = "torch" if layout == "NCHW" else "tf"
            for x, y in batches(split, pre, batch_size=batch_size, workers=workers, framework=fw):
                out.append(predict(x))
                labels.append(y)
    if not out:
        raise ZooError(f"no image of the {split.name} split could be read (skipped: "
                       f"{', '.join(split.skipped[:3])}); replace or remove the files")
    return np.concatenate(out), np.concatenate(labels)


def predict_split(model: Any, split: Any, batch_size: int = 256) -> np.ndarray:
    """Logits for the readable images of a split (see :func:`predict_labeled`, which also gives their labels)."""
    return predict_labeled(model, split, batch_size)[0]


def _pick_split(data: Any) -> Split:
    if isinstance(data, Dataset):
        return data.test if len(data.test) else data.val
    if not isinstance(data, (Split, StreamSplit)):
        shown = repr(data) if isinstance(data, (str, os.PathLike)) else f"a {type(data).__name__}"
        raise ZooError(f"evaluate() takes a zoo_core.data.Dataset (its test split) or one of its splits "
                       f"(dataset.test), got {shown}; open one first, e.g. zoo.data.open_dataset('mnist5k')")
    return data


def check_classes(model: Any, split: Split) -> None:
    """The model's outputs and the split's classes must correspond one to one."""
    n_model, n_data = spec_of(model).entry.num_classes, len(split.classes)
    if n_model != n_data:
        raise ZooError(
            f"the model has {n_model} classes but the {split.name} split has {n_data} ({', '.join(split.classes[:5])}"
            f"{', …' if n_data > 5 else ''}): its scores would be meaningless; evaluate on data with {n_model} "
            f"classes, or fine-tune the model for this data first (zoo.load(..., num_classes={n_data}) + finetune, "
            "or zoo train)"
        )


def evaluate(model: Any, split: Any, out: str | os.PathLike | None = None, batch_size: int = 256) -> dict[str, Any]:
    """Evaluate on a split (a Dataset means its test split, or val when test is empty). With ``out``, writes
    report.json and confusion.png there."""
    split = _pick_split(split)
    check_classes(model, split)
    logits, labels = predict_labeled(model, split, batch_size)
    report = classification_report(logits, labels, split.classes)
    report["split"] = split.name
    if split.skipped:
        report["skipped_files"] = list(split.skipped)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / REPORT_NAME, json.dumps(report, indent=2) + "\n")
        plot_confusion(np.asarray(report["confusion_matrix"]), split.classes, out / CONFUSION_NAME)
    return report
