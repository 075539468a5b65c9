"""Training settings (:class:`TrainConfig`), their validation, and the learning-rate schedule."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from ..data.datasets import Dataset
from ..errors import DataError, ZooError
from ..models import spec_of
from .tuning import check_mode

OPTIMIZERS = ("adamw", "sgd", "adam")
SCHEDULES = ("cosine", "step", "constant", "plateau")
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
    log_every: int = 10  # trackers get the mean training loss of every this many steps
    plateau_patience: int = 2  # schedule="plateau": epochs without a better val loss before the lr is reduced
    plateau_factor: float = 0.1  # ... and the factor it is multiplied by
    mix: Any = None  # a zoo_core.data.mix.Mix (batch-level mixup / cutmix, soft targets) or None
    tune: str = "auto"  # "auto": time exact speed settings once and use the faster (training.tuning); "off"
    checkpoint_every: int | None = None  # also save the training state every this many steps (mid-epoch resume)

    def checkpoint_due(self, done: int, steps_per_epoch: int) -> bool:
        """Whether a mid-epoch state is saved after ``done`` steps of an epoch (the epoch's end saves its own)."""
        return bool(self.checkpoint_every) and done % self.checkpoint_every == 0 and done < steps_per_epoch

    def __post_init__(self) -> None:
        """Check every number (one shared check for ``finetune`` and ``zoo train``): whole numbers stay whole (2.5
        epochs is an error, not 2), rates are finite and in range. Values are normalised to int / float."""
        put = object.__setattr__
        put(self, "epochs", _whole("epochs", self.epochs, 1))
        put(self, "batch_size", _whole("batch_size", self.batch_size, 1))
        put(self, "num_workers", _whole("num_workers", self.num_workers, 0))
        put(self, "seed", _whole("seed", self.seed, 0))
        check_mode(self.tune)
        if self.checkpoint_every is not None:
            put(self, "checkpoint_every", _whole("checkpoint_every", self.checkpoint_every, 1))
        put(self, "lr", _number("lr", self.lr, positive=True, example="1e-3"))
        put(self, "warmup_epochs", _number("warmup_epochs", self.warmup_epochs, positive=False, example="1"))
        smoothing = _real(self.label_smoothing)
        if smoothing is None or not 0 <= smoothing < 1:
            raise ZooError(f"label_smoothing must be a number in [0, 1), got {self.label_smoothing!r}; e.g. 0.1 "
                           "(0 turns it off)")
        put(self, "label_smoothing", smoothing)
        if self.weight_decay is not None:
            put(self, "weight_decay", _number("weight_decay", self.weight_decay, positive=False, example="0.01"))
        if self.grad_clip is not None:
            put(self, "grad_clip", _number("grad_clip", self.grad_clip, positive=True, example="1.0"))

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


@dataclass
class Plateau:
    """schedule="plateau": after each epoch, a val loss (train loss without a val split) below
    ``best * (1 - 1e-4)`` is an improvement; after ``patience`` epochs in a row without one the lr scale is
    multiplied by ``factor`` and the count starts again. Runs in the framework-neutral loop, so both frameworks
    follow the same rule; its state is saved with the training state, so a resumed run continues it."""

    patience: int
    factor: float
    scale: float = 1.0
    best: float | None = None
    bad: int = 0
    THRESHOLD = 1e-4  # relative, as torch's ReduceLROnPlateau default

    def update(self, loss: float) -> bool:
        """Record an epoch's loss; True when the lr was reduced."""
        if self.best is None or loss < self.best - self.THRESHOLD * abs(self.best):
            self.best, self.bad = float(loss), 0
            return False
        self.bad += 1
        if self.bad < self.patience:
            return False
        self.scale *= self.factor
        self.bad = 0
        return True

    def state(self) -> dict[str, Any]:
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def restore(self, state: dict[str, Any] | None) -> None:
        if state:
            self.scale, self.best, self.bad = float(state["scale"]), state["best"], int(state["bad"])


def _real(value: Any) -> float | None:
    """``value`` as a float when it is a real number (not a bool or a string), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def _whole(name: str, value: Any, minimum: int) -> int:
    number = _real(value)
    if number is None or not number.is_integer() or number < minimum:
        raise ZooError(f"{name} must be a whole number >= {minimum}, got {value!r}; pass e.g. {name}={max(minimum, 1)}")
    return int(number)


def _number(name: str, value: Any, *, positive: bool, example: str) -> float:
    number = _real(value)
    if number is None or not math.isfinite(number) or number < 0 or (positive and number == 0):
        raise ZooError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}; "
                       f"e.g. {name}={example}")
    return number


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int, scale: float = 1.0) -> float:
    """Learning rate at a global step (0-based): linear warmup, then cosine / step (x0.1 every third of the
    remaining epochs) / constant / plateau (the constant lr times the plateau's ``scale``)."""
    total = max(cfg.epochs * steps_per_epoch, 1)
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "plateau":
        return cfg.lr * scale
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
    if cfg.log_every < 1:
        raise ZooError(f"log_every must be >= 1 (steps between logged training losses), got {cfg.log_every}")
    if cfg.plateau_patience < 1 or not 0 < cfg.plateau_factor < 1:
        raise ZooError(f"the plateau schedule needs patience >= 1 and 0 < factor < 1, got patience "
                       f"{cfg.plateau_patience} and factor {cfg.plateau_factor}")
    n = spec_of(model).entry.num_classes
    if n != data.num_classes:
        raise ZooError(f"the model has {n} outputs but the dataset has {data.num_classes} classes; load it with "
                       f"num_classes={data.num_classes}")
    if len(data.train) == 0:
        raise DataError("the train split is empty; there is nothing to train on")
