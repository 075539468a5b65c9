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
from ..data.preprocess import Preprocess, prepare
from ..errors import ZooError
from ..fileio import atomic_write_text
from ..layout import to_layout
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


def predict_split(model: Any, split: Any, batch_size: int = 256) -> np.ndarray:
    """Logits for every image of a split (preprocessed for the model), in inference mode."""
    pre = Preprocess.for_model(model)
    layout = backends.of(model).input_layout()
    predict = batch_predictor(model)
    x_all = prepare(split, pre, layout)  # in memory: every batch is a slice, already in the model's layout
    out = []
    with _inference_mode(model):  # once for the split, not per batch
        for start in range(0, len(split), batch_size):
            stop = start + batch_size
            x = x_all[start:stop] if x_all is not None else to_layout(pre.batch(split.images[start:stop]), layout)
            out.append(predict(x))
    if not out:
        raise ZooError(f"the {split.name} split is empty; there is nothing to predict")
    return np.concatenate(out)


def _pick_split(data: Any) -> Split:
    if isinstance(data, Dataset):
        return data.test if len(data.test) else data.val
    if not isinstance(data, Split):
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
    logits = predict_split(model, split, batch_size)
    report = classification_report(logits, split.labels, split.classes)
    report["split"] = split.name
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / REPORT_NAME, json.dumps(report, indent=2) + "\n")
        plot_confusion(np.asarray(report["confusion_matrix"]), split.classes, out / CONFUSION_NAME)
    return report
