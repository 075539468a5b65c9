"""Fine-tuning, freezing and evaluation with the same API for torch and Keras models.

``freeze`` / ``unfreeze`` / ``trainable_summary`` work on architecture stages (fnmatch patterns over canonical
tensor names; the last stage is the head and is never frozen by ``until``). ``finetune`` trains a zoo model on a
:class:`zoo_core.data.Dataset` and ``evaluate`` reports accuracy, per-class metrics and the confusion matrix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from . import backends
from .errors import StageError, ZooError

log = logging.getLogger("zoo.training")
EpochCallback = Callable[[int, dict[str, Any]], "bool | None"]  # (1-based epoch, history) -> stop?

FROZEN_ATTR = "zoo_frozen_stages"
STATE_NAME = "training_state"  # + ".pt" (torch) or ".npz" (tf)
HISTORY_NAME = "history.json"
CURVES_NAME = "curves.png"
REPORT_NAME = "report.json"
CONFUSION_NAME = "confusion.png"
INTERRUPTED_NAME = "interrupted"  # checkpoint of the weights when Ctrl-C arrived mid-epoch
OPTIMIZERS = ("adamw", "sgd", "adam")
SCHEDULES = ("cosine", "step", "constant")
_TRAIN_MODULES = {"torch": "zoo_core.backends.torch_train", "tf": "zoo_core.backends.tf_train"}


def _train_backend(model: Any):
    import importlib

    fw = backends.framework_of(model)
    backends.get(fw)
    return importlib.import_module(_TRAIN_MODULES[fw])


def _architecture(model: Any):
    from .models import get_architecture, spec_of

    return get_architecture(spec_of(model).entry)


# ---------------------------------------------------------------------------------------------------- freezing


def stage_of(arch: Any, key: str) -> str | None:
    """The stage a canonical tensor name belongs to (first matching stage), or None."""
    for stage in arch.stages:
        if any(fnmatchcase(key, pat) for pat in arch.stage_patterns.get(stage, ())):
            return stage
    return None


def _check_stage(arch: Any, stage: str) -> None:
    if stage not in arch.stages:
        raise StageError(f"unknown stage {stage!r} of architecture {arch.name!r}; "
                         f"its stages are: {', '.join(arch.stages)}")


def _apply(model: Any, frozen: Sequence[str]) -> None:
    arch = _architecture(model)
    frozen_set = set(frozen)
    _train_backend(model).set_frozen(model, lambda key: stage_of(arch, key) in frozen_set)
    setattr(model, FROZEN_ATTR, tuple(s for s in arch.stages if s in frozen_set))


def freeze(model: Any, until: str | None = None, stages: Sequence[str] | None = None) -> list[str]:
    """Freeze stages: ``until=STAGE`` freezes every stage up to and including STAGE (never the head);
    ``stages=[...]`` freezes exactly those (added to the already frozen ones). Frozen BatchNorm layers keep
    their running statistics. Returns the frozen stages."""
    arch = _architecture(model)
    if (until is None) == (stages is None):
        raise StageError(f"give freeze() either until=STAGE or stages=[...]; stages: {', '.join(arch.stages)}")
    current = set(getattr(model, FROZEN_ATTR, ()))
    if until is not None:
        _check_stage(arch, until)
        if until == arch.head:
            raise StageError(f"until={until!r} would freeze the head; freeze up to one of: "
                             f"{', '.join(arch.stages[:-1]) or '(none: the head is the only stage)'}")
        current |= set(arch.stages[:arch.stages.index(until) + 1])
    else:
        for s in stages:
            _check_stage(arch, s)
        current |= set(stages)
    _apply(model, sorted(current))
    return list(getattr(model, FROZEN_ATTR))


def unfreeze(model: Any, stages: Sequence[str] | None = None) -> list[str]:
    """Make stages trainable again (all when ``stages`` is None); returns the stages still frozen."""
    arch = _architecture(model)
    current = set(getattr(model, FROZEN_ATTR, ()))
    if stages is None:
        current = set()
    else:
        for s in stages:
            _check_stage(arch, s)
        current -= set(stages)
    _apply(model, sorted(current))
    return list(getattr(model, FROZEN_ATTR))


def trainable_summary(model: Any) -> list[tuple[str, int, bool]]:
    """(stage, learnable parameter count, trainable) per stage, input to output; tensors no stage pattern matches
    are reported as stage ``"(other)"``."""
    arch = _architecture(model)
    counts: dict[str, list[int]] = {}
    for key, numel, trainable in _train_backend(model).parameters(model):
        stage = stage_of(arch, key) or "(other)"
        c = counts.setdefault(stage, [0, 0])
        c[0] += numel
        c[1] += numel if trainable else 0
    rows = []
    for stage in (*arch.stages, "(other)"):
        if stage == "(other)" and stage not in counts:
            continue
        total, trainable = counts.get(stage, [0, 0])
        rows.append((stage, total, trainable == total and stage not in getattr(model, FROZEN_ATTR, ())))
    return rows


# ---------------------------------------------------------------------------------------------------- metrics


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean()) if len(labels) else float("nan")


def classification_report(logits: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, top-5 (with >= 5 classes), loss, per-class precision/recall/F1/support, confusion matrix."""
    k = len(classes)
    labels = np.asarray(labels, np.int64)
    pred = logits.argmax(axis=1) if len(labels) else np.zeros(0, np.int64)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (labels, pred), 1)
    report: dict[str, Any] = {"n": int(len(labels)), "accuracy": float((pred == labels).mean()) if len(labels) else
                              float("nan"), "loss": cross_entropy(logits, labels)}
    if k >= 5:
        top5 = np.argsort(-logits, axis=1)[:, :5]
        report["top5_accuracy"] = float((top5 == labels[:, None]).any(axis=1).mean())
    per_class = {}
    for i, name in enumerate(classes):
        tp = int(cm[i, i])
        p = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        r = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class[name] = {"precision": float(p), "recall": float(r), "f1": float(f1), "support": int(cm[i].sum())}
    report["per_class"] = per_class
    report["macro_f1"] = float(np.mean([v["f1"] for v in per_class.values()])) if per_class else 0.0
    report["classes"] = list(classes)
    report["confusion_matrix"] = cm.tolist()
    return report


def batch_predictor(model: Any):
    """The per-batch prediction function ``predict_split`` uses: a float batch in the model's layout (NCHW torch,
    NHWC Keras) -> numpy logits, in inference mode (a compiled graph for Keras, inference_mode for torch)."""
    return _train_backend(model).predictor(model)


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
    from .data import Preprocess, prepare, to_layout

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


def _pick_split(data: Any) -> Any:
    from .data import Dataset

    if isinstance(data, Dataset):
        return data.test if len(data.test) else data.val
    return data


def evaluate(model: Any, split: Any, out: str | os.PathLike | None = None, batch_size: int = 256) -> dict[str, Any]:
    """Evaluate on a split (a Dataset means its test split, or val when test is empty). With ``out``, writes
    report.json and confusion.png there."""
    split = _pick_split(split)
    logits = predict_split(model, split, batch_size)
    report = classification_report(logits, split.labels, split.classes)
    report["split"] = split.name
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / REPORT_NAME, json.dumps(report, indent=2) + "\n")
        plot_confusion(np.asarray(report["confusion_matrix"]), split.classes, out / CONFUSION_NAME)
    return report


# ---------------------------------------------------------------------------------------------------- files


def atomic_write_text(path: Path, text: str) -> None:
    from .checkpoint import atomic_write

    atomic_write(path, text.encode())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    epochs = history["epoch"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key in ("train_loss", "val_loss"):
        if any(v is not None for v in history.get(key, [])):
            ax1.plot(epochs, history[key], marker="o", label=key)
    for key in ("train_acc", "val_acc"):
        if any(v is not None for v in history.get(key, [])):
            ax2.plot(epochs, history[key], marker="o", label=key)
    ax1.set_xlabel("epoch")
    ax1.set_title("loss")
    ax2.set_xlabel("epoch")
    ax2.set_title("accuracy")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path) -> None:
    plt = _pyplot()
    k = len(classes)
    size = min(3 + 0.4 * k, 20)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), labels=list(classes), rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def _save_fig(fig: Any, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    from .checkpoint import atomic_write

    atomic_write(path, buf.getvalue())


# ---------------------------------------------------------------------------------------------------- training


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


def _validate(cfg: TrainConfig, model: Any, data: Any) -> None:
    from .data import Dataset
    from .models import spec_of

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
        from .data import DataError

        raise DataError("the train split is empty; there is nothing to train on")


def seed_everything(seed: int, framework: str) -> None:
    """Seed Python, numpy and the framework, so that a model built next (its random init) is reproducible."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    from .frameworks import require

    backend = backends.get(framework)
    if require(framework) == "torch":
        backend.import_framework().manual_seed(seed)
    else:
        from .backends.tf_backend import import_keras

        import_keras().utils.set_random_seed(seed)


@contextlib.contextmanager
def _interrupts_deferred():
    """Hold SIGINT (Ctrl-C) and SIGTERM (torchrun stopping its workers, a scheduler preempting the job) until
    the block ends, so an epoch's files are written completely; then deliver them to the handlers they had
    (SIGINT raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    # an ignored signal stays ignored; one whose handler was installed outside Python (None) is left alone,
    # since it could not be put back
    held = [s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None))
            if s is not None and signal.getsignal(s) not in (signal.SIG_IGN, None)]
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for signum in dict.fromkeys(received):
        signal.raise_signal(signum)


def _state_path(out: Path, framework: str) -> Path:
    return out / f"{STATE_NAME}.{'pt' if framework == 'torch' else 'npz'}"


def finetune(model: Any, data: Any, epochs: int = 3, lr: float = 1e-3, batch_size: int = 64,
             optimizer: str = "adamw", schedule: str = "cosine", warmup_epochs: float = 0,
             label_smoothing: float = 0.0, weight_decay: float | None = None, grad_clip: float | None = None,
             seed: int = 0, out: str | os.PathLike | None = None, device: str = "auto",
             mixed_precision: str | None = None, early_stopping: int | None = None, resume: bool = False,
             augment: Any = False, num_workers: int = 0, progress: bool | None = None,
             strategy: Any = None, callbacks: Sequence[EpochCallback] = ()) -> dict[str, Any]:
    """Train a zoo model (torch or Keras) on ``data.train``, validating on ``data.val`` each epoch.

    ``weight_decay`` defaults to 0.01 for adamw and 0 otherwise. ``early_stopping=N`` stops after N epochs
    without improvement of val accuracy (train loss when there is no val split). ``mixed_precision``: "bf16" or
    "fp16" (float32 weights, low-precision compute during training only; fp16 with loss scaling).
    ``augment``: True for random resized crop + flip + colour jitter, or a subset such as "crop,flip"
    (zoo_core.augment; the same per-image randomness in both frameworks). With ``out``: a checkpoint of the
    model after every epoch (zoo_core.checkpoint.save),
    the full training state beside it (weights, optimizer, epoch, RNG; atomic), history.json and curves.png;
    ``resume=True`` continues from the last complete epoch recorded there. Returns the history dict.

    Distributed (docs/distributed.md): under torchrun a torch model trains with DDP, ``batch_size`` per process;
    a Keras model trains with ``strategy`` (a tf.distribute strategy whose scope built the model), ``batch_size``
    per replica. Metrics are reduced over all workers; only rank 0 / the chief writes files.

    ``callbacks``: functions called as ``callback(epoch, history)`` after each epoch (1-based epoch, after its files
    are written), on every rank; one that returns True stops training there (``history["stopped_by"]``).
    """
    from . import checkpoint, distributed
    from .augment import Augment
    from .data import Preprocess
    from .models import spec_of

    cfg = TrainConfig(int(epochs), float(lr), int(batch_size), optimizer, schedule, warmup_epochs,
                      float(label_smoothing), weight_decay, grad_clip, int(seed), device, mixed_precision,
                      Augment.parse(augment), int(num_workers), progress)
    _validate(cfg, model, data)
    framework = spec_of(model).framework
    tb = _train_backend(model)
    pre = Preprocess.for_model(model)
    if strategy is not None and framework != "tf":
        raise ZooError("strategy= is a tf.distribute strategy for Keras models; PyTorch models train distributed "
                       "under torchrun (zoo train --nproc N)")
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        trainer = tb.Trainer(model, data, pre, cfg)
    dist = getattr(trainer, "dist", None)  # the distributed context, None in a single process
    main = dist is None or dist.is_main
    history: dict[str, Any] = {"epoch": [], "lr": [], "train_loss": [], "train_acc": [], "val_loss": [],
                               "val_acc": [], "seconds": [], "images_per_second": []}
    start, best, since_best = 0, None, 0
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        if out_dir is None:
            raise ZooError("resume=True needs out=DIR, the directory of the run to continue")
        state = _state_path(out_dir, framework)
        if state.is_file():
            meta = trainer.load_state(state)
            start, history = int(meta["epoch"]), meta["history"]
            best, since_best = meta.get("best"), int(meta.get("since_best", 0))
            log.info("resuming %s from epoch %d", out_dir, start)
        else:
            log.warning("resume=True but %s has no training state; starting from epoch 0", out_dir)
    if dist is not None and not dist.same_on_all_ranks(start):
        raise distributed.DistributedError(
            f"the workers would start from different epochs (rank {dist.rank}: epoch {start}); every worker must "
            f"see the same run directory {out_dir} (a shared filesystem) to resume")
    try:
        steps = trainer.steps_per_epoch
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            stats = trainer.train_epoch(epoch, lambda step: lr_at(cfg, step, steps))
            seconds = time.perf_counter() - t0
            val_loss = val_acc = None
            if len(data.val):
                logits = predict_split(model, data.val, max(cfg.batch_size, 256))
                val_loss = cross_entropy(logits, data.val.labels)
                val_acc = float((logits.argmax(1) == data.val.labels).mean())
            for key, value in (("epoch", epoch + 1), ("lr", stats["lr"]), ("train_loss", stats["loss"]),
                               ("train_acc", stats["acc"]), ("val_loss", val_loss), ("val_acc", val_acc),
                               ("seconds", seconds), ("images_per_second", stats["n"] / max(seconds, 1e-9))):
                history[key].append(value)
            if main:
                log.info("epoch %d/%d: loss %.4f acc %.4f val_loss %s val_acc %s", epoch + 1, cfg.epochs,
                         stats["loss"], stats["acc"], val_loss, val_acc)
            stop = False
            if early_stopping:
                metric = val_acc if val_acc is not None else -stats["loss"]
                if best is None or metric > best:
                    best, since_best = metric, 0
                else:
                    since_best += 1
                    stop = since_best >= early_stopping
            if stop:
                history["stopped_early"] = epoch + 1
                log.info("early stopping after epoch %d: no improvement for %d epochs", epoch + 1, since_best)
            if out_dir is not None and main:  # rank 0 / the chief alone writes the run's files
                with _interrupts_deferred():  # Ctrl-C while saving: finish the epoch's files first
                    meta = {"epoch": epoch + 1, "history": history, "config": asdict(cfg), "framework": framework,
                            "best": best, "since_best": since_best}
                    trainer.save_state(_state_path(out_dir, framework), meta)
                    checkpoint.save(model, out_dir, labels=list(data.classes),
                                    extra={"training": {"epoch": epoch + 1, "epochs": cfg.epochs}})
                    atomic_write_text(out_dir / HISTORY_NAME, json.dumps(history, indent=2) + "\n")
                    plot_curves(history, out_dir / CURVES_NAME)
            for callback in callbacks:
                if callback(epoch + 1, history) is True and not stop:
                    stop = True
                    history["stopped_by"] = getattr(callback, "__name__", repr(callback))
                    log.info("training stopped by callback %s after epoch %d", history["stopped_by"], epoch + 1)
            if stop:
                break
    except KeyboardInterrupt:
        done = history["epoch"][-1] if history["epoch"] else 0
        if out_dir is None or not main:
            log.warning("training interrupted during epoch %d", done + 1)
            raise
        with _interrupts_deferred():
            partial = checkpoint.save(model, out_dir / INTERRUPTED_NAME, labels=list(data.classes),
                                      extra={"training": {"epoch": done, "interrupted_in_epoch": done + 1}})
        log.warning("training interrupted during epoch %d: the weights at the moment of the interrupt are in %s; "
                    "%s", done + 1, partial, f"epoch {done} is complete in {out_dir}, continue from it with "
                    "resume=True (zoo train ... --resume)" if done else "no epoch was complete")
        raise
    finally:
        close = getattr(trainer, "close", None)
        if close is not None:
            close()
    if dist is not None:
        distributed.record_final(model, dist.rank, history)
    model.zoo_labels = list(data.classes)
    return history
