"""Fine-tuning, freezing and evaluation with the same API for torch and Keras models.

- ``stages``: ``freeze`` / ``unfreeze`` / ``trainable_summary`` by architecture stage.
- ``metrics``: loss, accuracy, per-class metrics, confusion matrix (numpy).
- ``evaluation``: logits for a split in inference mode, ``evaluate``.
- ``reports``: the files a run leaves (names, curves and confusion plots).
- ``config``: ``TrainConfig``, its validation, the learning-rate schedule.
- ``loop``: ``finetune``, the framework-neutral driver; ``torch_loop`` / ``keras_loop``: the per-framework steps.
"""

from __future__ import annotations

from .config import OPTIMIZERS, SCHEDULES, TrainConfig, lr_at
from .evaluation import batch_predictor, evaluate, predict_split
from .loop import EpochCallback, finetune, seed_everything
from .metrics import classification_report, cross_entropy
from .reports import (
    CONFUSION_NAME,
    CURVES_NAME,
    HISTORY_NAME,
    INTERRUPTED_NAME,
    REPORT_NAME,
    STATE_NAME,
    plot_confusion,
    plot_curves,
)
from .stages import FROZEN_ATTR, freeze, stage_of, trainable_summary, unfreeze

__all__ = [
    "CONFUSION_NAME", "CURVES_NAME", "FROZEN_ATTR", "HISTORY_NAME", "INTERRUPTED_NAME", "OPTIMIZERS", "REPORT_NAME",
    "SCHEDULES", "STATE_NAME", "EpochCallback", "TrainConfig", "batch_predictor", "classification_report",
    "cross_entropy", "evaluate", "finetune", "freeze", "lr_at", "plot_confusion", "plot_curves", "predict_split",
    "seed_everything", "stage_of", "trainable_summary", "unfreeze",
]
