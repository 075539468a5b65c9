"""``finetune``: the training loop's framework-neutral driver (epochs, validation, files, resume, interrupts).

The per-framework steps are ``torch_loop.Trainer`` and ``keras_loop.Trainer``, imported with their framework.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends
from ..checkpoint.io import save
from ..data.augment import Augment
from ..data.mix import Mix
from ..data.preprocess import Preprocess
from ..distributed import env as distributed
from ..errors import DistributedError, TrainingDivergedError, ZooError
from ..fileio import DirectoryLock, check_writable_dir, removed_if_unfinished, write_json
from ..frameworks import import_keras, require
from ..models import spec_of
from ..tracking import EPOCH_KEYS, RunSession
from . import tuning
from .config import Plateau, TrainConfig, lr_at, validate
from .evaluation import predict_labeled
from .metrics import cross_entropy
from .reports import CURVES_NAME, HISTORY_NAME, INTERRUPTED_NAME, STATE_NAME, plot_curves

log = logging.getLogger("zoo.training")
EpochCallback = Callable[[int, dict[str, Any]], "bool | None"]  # (1-based epoch, history) -> stop?
# the per-framework training steps, imported with their framework when a model of it trains
_LOOP_MODULES = {"torch": "zoo_core.training.torch_loop", "tf": "zoo_core.training.keras_loop"}


def _loop_module(model: Any):
    fw = backends.framework_of(model)
    backends.get(fw)
    return importlib.import_module(_LOOP_MODULES[fw])


def seed_everything(seed: int, framework: str) -> None:
    """Seed Python, numpy and the framework, so that a model built next (its random init) is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    backend = backends.get(framework)
    if require(framework) == "torch":
        backend.import_framework().manual_seed(seed)
    else:
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


def train_config(*, epochs: int = 3, lr: float = 1e-3, batch_size: int = 64, optimizer: str = "adamw",
                 schedule: str = "cosine", warmup_epochs: float = 0, label_smoothing: float = 0.0,
                 weight_decay: float | None = None, grad_clip: float | None = None, seed: int = 0,
                 device: str = "auto", mixed_precision: str | None = None, augment: Any = False,
                 num_workers: int = 0, progress: bool | None = None, log_every: int = 10,
                 plateau_patience: int = 2, plateau_factor: float = 0.1, mix: Any = None,
                 tune: str = "auto", checkpoint_every: int | None = None) -> TrainConfig:
    """The settings of a run from :func:`finetune`'s arguments (the CLI checks them with this before it writes)."""
    return TrainConfig(epochs, lr, batch_size, optimizer, schedule, warmup_epochs, label_smoothing, weight_decay,
                       grad_clip, seed, device, mixed_precision, Augment.parse(augment), num_workers, progress,
                       log_every, plateau_patience, plateau_factor, Mix.parse(mix, label_smoothing), tune,
                       checkpoint_every)


def epoch_line(history: dict[str, Any], epochs: int) -> str:
    """One plain line for the last epoch of ``history`` (what a log or a CI console keeps)."""
    def fmt(key: str, digits: int = 4) -> str:
        value = history[key][-1]
        return "-" if value is None else f"{value:.{digits}f}"

    return (f"epoch {history['epoch'][-1]}/{epochs}: loss {fmt('train_loss')} acc {fmt('train_acc')} "
            f"val_loss {fmt('val_loss')} val_acc {fmt('val_acc')} lr {history['lr'][-1]:.3g} "
            f"{history['images_per_second'][-1]:.0f} img/s {history['seconds'][-1]:.1f} s")


def _diverged(stats: dict[str, Any], epoch: int, steps: int, history: dict[str, Any], out: Path | None) -> str:
    done = history["epoch"][-1] if history["epoch"] else 0
    kept = (f"the run keeps epoch {done}'s checkpoint in {out}" if out is not None and done else
            "no epoch was saved")
    return (f"the training loss became NaN or infinite in epoch {epoch + 1}, step {stats['diverged_at'] + 1} of "
            f"{steps} (learning rate {stats['lr']:.3g}); {kept}: lower the learning rate (--lr), clip gradients "
            "(--grad-clip), or check the data")


def _state_path(out: Path, framework: str) -> Path:
    return out / f"{STATE_NAME}.{'pt' if framework == 'torch' else 'npz'}"


def finetune(model: Any, data: Any, epochs: int = 3, lr: float = 1e-3, batch_size: int = 64,
             optimizer: str = "adamw", schedule: str = "cosine", warmup_epochs: float = 0,
             label_smoothing: float = 0.0, weight_decay: float | None = None, grad_clip: float | None = None,
             seed: int = 0, out: str | os.PathLike | None = None, device: str = "auto",
             mixed_precision: str | None = None, early_stopping: int | None = None, resume: bool = False,
             augment: Any = False, num_workers: int = 0, progress: bool | None = None,
             strategy: Any = None, callbacks: Sequence[EpochCallback] = (), log_every: int = 10,
             plateau_patience: int = 2, plateau_factor: float = 0.1, run: RunSession | None = None,
             mix: Any = None, tune: str = "auto", checkpoint_every: int | None = None) -> dict[str, Any]:
    """Train a zoo model (torch or Keras) on ``data.train``, validating on ``data.val`` each epoch.

    ``weight_decay`` defaults to 0.01 for adamw and 0 otherwise. ``early_stopping=N`` stops after N epochs
    without improvement of val accuracy (train loss when there is no val split). ``mixed_precision``: "bf16" or
    "fp16" (float32 weights, low-precision compute during training only; fp16 with loss scaling).
    ``augment``: True for random resized crop + flip + colour jitter, or a subset such as "crop,flip"
    (zoo_core.augment; the same per-image randomness in both frameworks), "randaugment" adds RandAugment.
    ``mix``: "mixup", "cutmix" or "mixup,cutmix" (True: both), batch-level, the targets label-smoothed
    (zoo_core.data.mix). Both frameworks train on the batches of ``zoo_core.data.batches`` (``num_workers`` Grain
    worker processes). With ``out``: a checkpoint of the
    model after every epoch (zoo_core.checkpoint.save),
    the full training state beside it (weights, optimizer, epoch, RNG; atomic), history.json and curves.png;
    ``resume=True`` continues from the last complete epoch recorded there, or with ``checkpoint_every=N`` (steps)
    from the last of the states saved every N steps within an epoch (PyTorch, DDP included, and single-process
    Keras: the same batches, learning rates and dropout draws as an uninterrupted run). Returns the history dict.

    Distributed (docs/distributed.md): under torchrun a torch model trains with DDP, ``batch_size`` per process;
    a Keras model trains with ``strategy`` (a tf.distribute strategy whose scope built the model), ``batch_size``
    per replica. Metrics are reduced over all workers; only rank 0 / the chief writes files.

    ``callbacks``: functions called as ``callback(epoch, history)`` after each epoch (1-based epoch, after its files
    are written), on every rank; one that returns True stops training there (``history["stopped_by"]``).

    Tracking (docs/training.md): with ``out``, rank 0 / the chief writes ``run.json`` (running / finished /
    interrupted) and feeds the trackers ``ZOO_TRACKERS`` chooses (TensorBoard in ``out/tb`` by default): per epoch
    the history's metrics, every ``log_every`` steps the mean training loss (also in ``history["step"]`` /
    ``history["step_loss"]``). Pass ``run=RunSession(out)`` to end the run yourself (e.g. after an evaluation,
    ``run.set_report(report)``); otherwise ``finetune`` ends it. ``schedule="plateau"``: the lr is multiplied by
    ``plateau_factor`` after ``plateau_patience`` epochs without a better val loss.

    ``tune="auto"`` (docs/training.md): before the first epoch, a short timed trial on copies of the model and
    optimizer picks exact (float32-equal) speed settings, e.g. channels_last in PyTorch; cached per model config,
    batch, device and versions; one log line and ``history["tuning"]`` say what was chosen and whether bf16 would
    be faster here. ``tune="off"``: the framework's defaults.
    """
    cfg = train_config(epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer, schedule=schedule,
                       warmup_epochs=warmup_epochs, label_smoothing=label_smoothing, weight_decay=weight_decay,
                       grad_clip=grad_clip, seed=seed, device=device, mixed_precision=mixed_precision,
                       augment=augment, num_workers=num_workers, progress=progress, log_every=log_every,
                       plateau_patience=plateau_patience, plateau_factor=plateau_factor, mix=mix, tune=tune,
                       checkpoint_every=checkpoint_every)
    validate(cfg, model, data)
    out_dir = check_writable_dir(out, "run directory") if out is not None else None
    if resume and out_dir is None:
        raise ZooError("resume=True needs out=DIR, the directory of the run to continue")
    framework = spec_of(model).framework
    tb = _loop_module(model)
    pre = Preprocess.for_model(model)
    if strategy is not None and framework != "tf":
        raise ZooError("strategy= is a tf.distribute strategy for Keras models; PyTorch models train distributed "
                       "under torchrun (zoo train --nproc N)")
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        trainer = tb.Trainer(model, data, pre, cfg)
    dist = getattr(trainer, "dist", None)  # the distributed context, None in a single process
    main = dist is None or dist.is_main
    decision = tuning.tune(trainer, cfg.tune, _tuning_identity(model, cfg), cfg.epochs * trainer.steps_per_epoch)
    # never half-made: no epoch, no folder; one writer per run directory: a second one fails at once, naming this
    with removed_if_unfinished(out_dir if main else None, HISTORY_NAME), \
            DirectoryLock(out_dir, "training") if out_dir is not None and main else contextlib.nullcontext():
        history = _train(model, data, trainer, cfg, framework, out_dir, resume, early_stopping, callbacks, run,
                         decision)
    return history


def _tuning_identity(model: Any, cfg: TrainConfig) -> dict[str, Any]:
    """What a tuning decision depends on besides the device and versions (which the trainer adds)."""
    entry = spec_of(model).entry
    counts = backends.of(model).parameters(model)  # (name, count, trainable)
    trainable = sum(n for _, n, train in counts if train)
    return {"model": entry.name, "architecture": entry.architecture, "config": entry.config,
            "num_classes": entry.num_classes, "in_chans": entry.in_chans, "input_size": list(entry.input_size),
            "batch": cfg.batch_size, "optimizer": cfg.optimizer, "mixed_precision": cfg.mixed_precision,
            "trainable": trainable, "frozen": sum(n for _, n, _ in counts) - trainable}


def _train(model: Any, data: Any, trainer: Any, cfg: TrainConfig, framework: str, out_dir: Path | None,
           resume: bool, early_stopping: int | None, callbacks: Sequence[EpochCallback],
           run: RunSession | None, decision: dict[str, Any]) -> dict[str, Any]:
    """The epochs of :func:`finetune`, with its files, trackers, resume and interrupt handling."""
    dist = getattr(trainer, "dist", None)
    main = dist is None or dist.is_main
    history: dict[str, Any] = {"epoch": [], "lr": [], "train_loss": [], "train_acc": [], "val_loss": [],
                               "val_acc": [], "seconds": [], "images_per_second": [], "step": [], "step_loss": []}
    history["tuning"] = decision
    start, best, since_best = 0, None, 0
    start_step, carried = 0, None  # a state saved within an epoch: its step and the epoch's sums so far
    plateau = Plateau(cfg.plateau_patience, cfg.plateau_factor)
    if resume:
        state = _state_path(out_dir, framework)
        if state.is_file():
            meta = trainer.load_state(state)
            start, history = int(meta["epoch"]), meta["history"]
            start_step, carried = int(meta.get("step", 0)), meta.get("sums")
            best, since_best = meta.get("best"), int(meta.get("since_best", 0))
            plateau.restore(meta.get("plateau"))
            history["tuning"] = decision  # this run's decision (the same when cached)
            history.setdefault("step", [])
            history.setdefault("step_loss", [])
            log.info("resuming %s from epoch %d%s", out_dir, start,
                     f", step {start_step} of epoch {start + 1}" if start_step else "")
        else:
            log.warning("resume=True but %s has no training state; starting from epoch 0", out_dir)
    if dist is not None and not dist.same_on_all_ranks(start):
        raise DistributedError(
            f"the workers would start from different epochs (rank {dist.rank}: epoch {start}); every worker must "
            f"see the same run directory {out_dir} (a shared filesystem) to resume")
    steps = trainer.steps_per_epoch
    session = (run or RunSession(out_dir)) if out_dir is not None and main else None
    own_session = run is None
    if session is not None:
        spec = spec_of(model)
        session.start({"model": spec.entry.name, "framework": framework, "data": getattr(data, "name", "") or None,
                       "classes": list(data.classes), "epochs": cfg.epochs, "start_epoch": start,
                       "steps_per_epoch": steps, "log_every": cfg.log_every, "resumed": bool(resume and start),
                       "config": asdict(cfg)}, history)

    def on_steps(step: int, loss: float) -> None:  # every log_every steps: the mean loss since the last one
        history["step"].append(step)
        history["step_loss"].append(loss)
        if session is not None:
            session.log_step(step, {"train_loss": loss})

    def state_meta(epoch: int) -> dict[str, Any]:
        return {"epoch": epoch, "history": history, "config": asdict(cfg), "framework": framework, "best": best,
                "since_best": since_best, "plateau": plateau.state()}

    def on_checkpoint(epoch: int, step: int, sums: list[float]) -> None:  # every checkpoint_every steps
        if main:
            with _interrupts_deferred():
                trainer.save_state(_state_path(out_dir, framework), {**state_meta(epoch), "step": step, "sums": sums})
                write_json(out_dir / HISTORY_NAME, history)  # the run exists from its first saved state

    ended = "failed"
    try:
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            resumed_at = start_step if epoch == start else 0
            stats = trainer.train_epoch(epoch, lambda step: lr_at(cfg, step, steps, plateau.scale),
                                        on_steps=on_steps, start_step=resumed_at,
                                        carried=carried if resumed_at else None,
                                        on_checkpoint=on_checkpoint if cfg.checkpoint_every and out_dir else None)
            if "diverged_at" in stats:
                raise TrainingDivergedError(_diverged(stats, epoch, steps, history, out_dir))
            seconds = time.perf_counter() - t0
            val_loss = val_acc = None
            if len(data.val):
                logits, labels = predict_labeled(model, data.val, max(cfg.batch_size, 256), cfg.num_workers)
                val_loss = cross_entropy(logits, labels)
                val_acc = float((logits.argmax(1) == labels).mean())
            for key, value in (("epoch", epoch + 1), ("lr", stats["lr"]), ("train_loss", stats["loss"]),
                               ("train_acc", stats["acc"]), ("val_loss", val_loss), ("val_acc", val_acc),
                               ("seconds", seconds),
                               ("images_per_second", stats.get("timed", stats["n"]) / max(seconds, 1e-9))):
                history[key].append(value)
            if data.skipped_files:  # image files that could not be decoded when read, so far
                history["skipped_files"] = data.skipped_files
            if main:
                line = epoch_line(history, cfg.epochs)
                log.info("%s", line)
                if cfg.progress is not False:  # the bar of the epoch is gone: one plain line stays, also in logs
                    print(line, file=sys.stderr, flush=True)
            if cfg.schedule == "plateau" and plateau.update(val_loss if val_loss is not None else stats["loss"]):
                log.info("plateau: lr x%g after epoch %d (scale now %g)", cfg.plateau_factor, epoch + 1,
                         plateau.scale)
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
                    trainer.save_state(_state_path(out_dir, framework), state_meta(epoch + 1))
                    save(model, out_dir, labels=list(data.classes),
                                    extra={"training": {"epoch": epoch + 1, "epochs": cfg.epochs}})
                    write_json(out_dir / HISTORY_NAME, history)
                    plot_curves(history, out_dir / CURVES_NAME)
                    interrupted = out_dir / INTERRUPTED_NAME
                    if resume and interrupted.is_dir():  # the zoo's own: superseded by this complete epoch
                        shutil.rmtree(interrupted, ignore_errors=True)
            if session is not None:
                session.log_epoch(epoch + 1, {k: history[k][-1] for k in EPOCH_KEYS})
            for callback in callbacks:
                if callback(epoch + 1, history) is True and not stop:
                    stop = True
                    history["stopped_by"] = getattr(callback, "__name__", repr(callback))
                    log.info("training stopped by callback %s after epoch %d", history["stopped_by"], epoch + 1)
            if stop:
                break
        ended = "finished"
    except KeyboardInterrupt:
        ended = "interrupted"
        done = history["epoch"][-1] if history["epoch"] else 0
        if out_dir is None or not main:
            log.warning("training interrupted during epoch %d", done + 1)
            raise
        with _interrupts_deferred():
            partial = save(model, out_dir / INTERRUPTED_NAME, labels=list(data.classes),
                                      extra={"training": {"epoch": done, "interrupted_in_epoch": done + 1}})
        log.warning("training interrupted during epoch %d: the weights at the moment of the interrupt are in %s; "
                    "%s", done + 1, partial, f"epoch {done} is complete in {out_dir}, continue from it with "
                    "resume=True (zoo train ... --resume)" if done else "no epoch was complete")
        raise
    finally:
        close = getattr(trainer, "close", None)
        if close is not None:
            close()
        if session is not None and own_session:
            session.finish(ended)
    if dist is not None:
        distributed.record_final(model, dist.rank, history)
    model.zoo_labels = list(data.classes)
    return history
