"""Training settings (:class:`TrainConfig`), their validation, and the learning-rate schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..data.datasets import Dataset
from ..errors import DataError, ZooError
from ..models import spec_of

OPTIMIZERS = ("adamw", "sgd", "adam")
SCHEDULES = ("cosine", "step", "constant")
SHUFFLE_SEED_STRIDE, RNG_SEED_STRIDE = 100003, 1000003  # primes: (seed, epoch) pairs do not collide in practice


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 64
    optimizer: str = "adamw"
    schedule: str = "cosine"
    warmup_epochs: float = 0
    label_smoothing: float = 0.0
    weight_decay: float | None = None
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    mixed_precision: str | None = None
    augment: Any = None  # a zoo_core.augment.Augment or None
    num_workers: int = 0
    progress: bool | None = None

    @property
    def decay(self) -> float:
        if self.weight_decay is not None:
            return float(self.weight_decay)
        return 0.01 if self.optimizer == "adamw" else 0.0

    def shuffle_seed(self, epoch: int) -> int:
        """The seed of an epoch's shuffle order and augmentation draws (both backends, every rank)."""
        return self.seed * SHUFFLE_SEED_STRIDE + epoch

    def rng_seed(self, epoch: int) -> int:
        """The seed the framework's global generators (dropout, stochastic depth) are reset to at an epoch's
        start, so a resumed run repeats what an uninterrupted one does."""
        return self.seed * RNG_SEED_STRIDE + epoch


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Learning rate at a global step (0-based): linear warmup, then cosine / step (x0.1 every third of the
    remaining epochs) / constant."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - warm) / max(total - warm, 1)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr * (0.1 ** int(min(progress, 0.999) * 3))


def validate(cfg: TrainConfig, model: Any, data: Any) -> None:
    if not isinstance(data, Dataset):
        raise ZooError(f"finetune() needs a zoo_core.data.Dataset, got {type(data).__name__}")
    if cfg.optimizer not in OPTIMIZERS:
        raise ZooError(f"unknown optimizer {cfg.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
    if cfg.schedule not in SCHEDULES:
        raise ZooError(f"unknown schedule {cfg.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
    if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.lr <= 0:
        raise ZooError("epochs and batch_size must be >= 1 and lr > 0")
    n = spec_of(model).entry.num_classes
    if n != data.num_classes:
        raise ZooError(f"the model has {n} outputs but the dataset has {data.num_classes} classes; load it with "
                       f"num_classes={data.num_classes}")
    if len(data.train) == 0:
        raise DataError("the train split is empty; there is nothing to train on")
