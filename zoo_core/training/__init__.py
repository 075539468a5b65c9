"""Fine-tuning, freezing and evaluation with the same API for torch and Keras models.

- ``stages``: ``freeze`` / ``unfreeze`` / ``trainable_summary`` by architecture stage.
- ``metrics``: loss, accuracy, per-class metrics, confusion matrix (numpy).
- ``evaluation``: logits for a split in inference mode, ``evaluate``.
- ``reports``: the files a run leaves (names, curves and confusion plots).
- ``config``: ``TrainConfig``, its validation, the learning-rate schedule.
- ``loop``: ``finetune``, the framework-neutral driver; ``torch_loop`` / ``keras_loop``: the per-framework steps.
"""

from __future__ import annotations

from .config import TrainConfig, lr_at
from .evaluation import batch_predictor, evaluate, predict_split
from .loop import finetune
from .stages import freeze, trainable_summary, unfreeze

__all__ = ["TrainConfig", "batch_predictor", "evaluate", "finetune", "freeze", "lr_at", "predict_split",
           "trainable_summary", "unfreeze"]
