"""The Keras 3 (TensorFlow) training step and epoch loop (``Trainer``); imported when a Keras model trains."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..backends.keras_weights import leaf_layers
from ..backends.tf_backend import host_tensor
from ..data.loader import Batches, batches
from ..distributed import tf_strategy
from ..errors import ZooError
from ..fileio import atomic_write
from ..frameworks import import_keras, import_tensorflow
from . import keras_tuning

log = logging.getLogger("zoo.tf.train")
_STATS = (".running_mean", ".running_var", ".num_batches_tracked")


POSTFIX_SECONDS = 0.5  # how often the progress bar's loss/accuracy are read back from the device


def _reseed(tf: Any, base: int, epoch: int) -> None:
    """Python and numpy from (base, epoch) every epoch; TensorFlow's global seed only when it is not ``base``
    already: ``tf.random.set_seed`` clears TensorFlow's kernel cache, which cost ~0.3 s of re-instantiating the
    train step every epoch. (Shuffles have per-epoch op seeds, dropout its seed state variables, so a resumed run
    still repeats an uninterrupted one.)"""
    import random

    random.seed(base + epoch)
    np.random.seed((base + epoch) % 2**32)
    from tensorflow.python.eager import context

    if context.global_seed() != base:  # None when unset
        tf.random.set_seed(base)


def _read_back(pending: list[tuple[int, Any, Any, int]], total_loss: float,
               correct: int) -> tuple[float, int, int | None]:
    """Add the pending steps' (step, mean loss, correct, n) to the running sums and empty the list; also the first
    step whose loss is NaN or infinite (None when every one is finite)."""
    diverged = None
    for step, loss, ok, n in pending:
        value = float(loss)
        if diverged is None and not math.isfinite(value):
            diverged = step
        total_loss += value * n
        correct += int(ok)
    pending.clear()
    return total_loss, correct, diverged


_POLICIES = {"bf16": "mixed_bfloat16", "bfloat16": "mixed_bfloat16", "fp16": "mixed_float16",
             "float16": "mixed_float16"}


def tf_device(tf: Any, device: str | None) -> str | None:
    """A tf.device string for a zoo device name; None lets TensorFlow place ops (its GPU first when it has one)."""
    if device in (None, "auto"):
        return None
    name = str(device).lower()
    if name == "cpu":
        return "/CPU:0"
    if name in ("gpu", "cuda") or name.startswith(("cuda:", "gpu:", "/gpu:")):
        index = int(name.rsplit(":", 1)[1]) if ":" in name else 0
        gpus = tf.config.list_physical_devices("GPU")
        if index >= len(gpus):
            raise ZooError(f"device {device!r} asked for, but TensorFlow sees {len(gpus)} GPU(s); use --device cpu "
                           "or auto")
        return f"/GPU:{index}"
    raise ZooError(f"unknown device {device!r} for Keras; use auto, cpu, gpu or gpu:N")


def set_mixed_precision(model: Any, mode: str | None) -> list[tuple[Any, Any]]:
    """Switch every leaf layer to a mixed policy (float32 variables, bf16/fp16 compute) for training; returns the
    previous policies so training can restore them. BatchNorm statistics and the loss stay float32."""
    if mode is None:
        return []
    if mode not in _POLICIES:
        raise ZooError(f"unknown mixed_precision {mode!r}; use None, 'bf16' or 'fp16'")
    saved = []
    for layer in leaf_layers(model):
        saved.append((layer, layer.dtype_policy))
        layer.dtype_policy = _POLICIES[mode]
    return saved


class Trainer:
    """A tf.function train step over tf.data; every epoch reseeds Keras from (seed, epoch) and shuffles with its
    own seed. The state file holds every model variable (incl. dropout seed state) and the optimizer's."""

    def __init__(self, model, data, pre, cfg):
        tf = import_tensorflow()
        keras = import_keras()
        self.tf, self.keras = tf, keras
        self.model, self.data, self.pre, self.cfg = model, data, pre, cfg
        self.device = tf_device(tf, cfg.device)
        self._policies = set_mixed_precision(model, cfg.mixed_precision)
        decay = cfg.decay or None
        clip = float(cfg.grad_clip) if cfg.grad_clip else None
        if cfg.optimizer == "adamw":
            self.opt = keras.optimizers.AdamW(learning_rate=cfg.lr, weight_decay=cfg.decay, global_clipnorm=clip)
        elif cfg.optimizer == "adam":
            self.opt = keras.optimizers.Adam(learning_rate=cfg.lr, weight_decay=decay, global_clipnorm=clip)
        else:
            self.opt = keras.optimizers.SGD(learning_rate=cfg.lr, momentum=0.9, weight_decay=decay,
                                            global_clipnorm=clip)
        if cfg.mixed_precision in ("fp16", "float16"):
            self.opt = keras.optimizers.LossScaleOptimizer(self.opt)
        self.vars = list(model.trainable_variables)
        if not self.vars:
            raise ZooError("every parameter is frozen; unfreeze at least the head before training")
        self.opt.build(self.vars)
        loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing)
        soft_loss = keras.losses.CategoricalCrossentropy(from_logits=True)  # mixed targets are smoothed already
        self._stream: Batches | None = None
        self.steps_per_epoch = len(self._batches(0, 1))
        self._loss_fn, self._soft_loss = loss_fn, soft_loss
        self._step = self._make_step(jit_compile=False)
        self.dist = tf_strategy.from_scope(self)  # built in a tf.distribute strategy's scope: distributed steps
        self.is_main = self.dist is None or self.dist.is_main
        if self.dist is not None:
            self.steps_per_epoch = math.ceil(math.ceil(len(data.train) / self.dist.replicas) / cfg.batch_size)
            if not self.is_main:
                self.cfg = dataclasses.replace(cfg, progress=False)

    def _make_step(self, jit_compile: bool):
        """The train step as a tf.function (XLA-compiled with ``jit_compile``): loss and correct count."""
        tf, model, loss_fn, soft_loss, k = self.tf, self.model, self._loss_fn, self._soft_loss, self.data.num_classes
        variables, opt = self.vars, self.opt

        @tf.function(reduce_retracing=True, jit_compile=jit_compile or None)
        def step(x, y, lr):
            opt.learning_rate = lr  # in the graph: no eager assign op per step
            soft = y.dtype.is_floating  # mixup/cutmix targets (N, k)
            with tf.GradientTape() as tape:
                logits = tf.cast(model(x, training=True), tf.float32)
                loss = soft_loss(y, logits) if soft else loss_fn(tf.one_hot(y, k), logits)
                scaled = opt.scale_loss(loss) if hasattr(opt, "scale_loss") else loss
            grads = tape.gradient(scaled, variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            labels = tf.argmax(y, 1) if soft else y
            correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, 1), labels), tf.int64))
            return loss, correct

        return step

    # -------------------------------------------------------------------------------- tuning (training.tuning)

    def tuning_identity(self) -> dict[str, Any]:
        return keras_tuning.identity(self.device, self.cfg.mixed_precision)

    def tuning_candidates(self) -> dict[str, dict[str, Any]]:
        return keras_tuning.candidates(self.device)

    def tuning_notes(self) -> list[str]:
        return keras_tuning.notes(self.device)

    def tuning_advice(self) -> dict[str, Any]:
        return {"bf16": {"native": keras_tuning.bf16_native(self.device), "speedup": None}}

    def tuning_trial_steps(self, candidates: dict[str, dict[str, Any]]) -> int:
        return keras_tuning.trial_steps(candidates)

    def tuning_trial(self, candidates: dict[str, dict[str, Any]]) -> dict[str, Any]:
        shape = (min(self.cfg.batch_size, len(self.data.train)), *self.pre.input_size, self.pre.in_chans)
        return keras_tuning.trial(list(self.model.variables) + list(self.opt.variables), self._make_step, shape,
                                  self.data.num_classes, self.cfg.lr, self.device, candidates)

    def apply_tuning(self, settings: dict[str, Any]) -> None:
        if settings.get("jit_compile"):
            self._step = self._make_step(jit_compile=True)

    def _batches(self, epoch: int, epochs: int, start: int = 0, shard: tuple[int, int] = (0, 1)) -> Batches:
        """The training batches from ``epoch`` on (zoo_core.data.batches, NHWC: the order and augmentation drawn
        from (seed, epoch), as in the torch loop; one pool of workers for the rest of the run; ``shard``'s
        share)."""
        cfg = self.cfg
        return batches(self.data.train, self.pre, batch_size=cfg.batch_size, train=True, seed=cfg.shuffle_seed(0),
                       epoch=epoch, workers=cfg.num_workers, framework="tf", augment=cfg.augment or False,
                       mix=cfg.mix, shard=shard, epochs=epochs, start=start)

    def _epoch_data(self, epoch: int, shard: tuple[int, int] = (0, 1)):
        """One epoch of ``shard``'s batches as a tf.data pipeline (a replica's distributed input): nothing cached,
        so memory stays bounded whatever the split's size."""
        tf, h, w, c = self.tf, *self.pre.input_size, self.pre.in_chans
        label = (tf.TensorSpec((None, self.data.num_classes), tf.float32) if self.cfg.mix else
                 tf.TensorSpec((None,), tf.int64))
        return tf.data.Dataset.from_generator(
            lambda: iter(self._batches(epoch, 1, shard=shard)),
            output_signature=(tf.TensorSpec((None, h, w, c), tf.float32), label)).prefetch(1)

    def _epoch_batches(self, epoch: int, start: int = 0):
        """This epoch's batches (from batch ``start``) as host tensors, from one stream of batches kept for the
        rest of the run."""
        tf = self.tf
        if start or self._stream is None or self._stream.next_epoch != epoch:
            if self._stream is not None:
                self._stream.close()
            self._stream = self._batches(epoch, self.cfg.epochs - epoch, start)
        for x, y in self._stream.epoch(epoch):
            with tf.device("/CPU:0"):  # each batch goes to the device in the step
                yield host_tensor(x), tf.constant(y)

    def train_epoch(self, epoch: int, lr_fn: Callable[[int], float],
                    on_steps: Callable[[int, float], None] | None = None, start_step: int = 0,
                    carried: Sequence[float] | None = None,
                    on_checkpoint: Callable[[int, int, list[float]], None] | None = None) -> dict[str, float]:
        """One epoch; ``on_steps(global_step, mean_loss)`` every ``cfg.log_every`` global steps, with the mean loss
        of the steps since the last call (within this epoch). ``start_step``: resume the epoch there (dropout's
        seed state as saved), ``carried`` the (loss, correct, images) sums before it; ``on_checkpoint(epoch,
        step, sums)`` every ``cfg.checkpoint_every`` steps, between steps (single process: under tf.distribute
        the state is saved at epoch ends only)."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        if self.dist is not None:
            if start_step:
                raise ZooError("this run was saved within an epoch, which tf.distribute runs cannot resume; resume "
                               "it without a strategy, or from a state saved at an epoch end")
            on_checkpoint = None
        _reseed(self.tf, cfg.rng_seed(0), epoch)
        total_loss, correct, seen = (float(carried[0]), int(carried[1]), int(carried[2])) if carried else (0.0, 0, 0)
        seen0, lr = seen, cfg.lr
        mark_loss, mark_seen = total_loss, seen  # the sums at the last on_steps call
        # (loss, correct, n) of steps not yet read back: read for the progress bar at most every POSTFIX_SECONDS
        # and at the end, so a GPU is not made to wait for the host after every step
        pending: list[tuple[int, Any, Any, int]] = []
        diverged = None
        t0 = shown = time.perf_counter()
        batches = self.dist.epoch_data(epoch) if self.dist else self._epoch_batches(epoch, start_step)
        # iter(): tqdm.auto would otherwise create a second iterator of its own
        bar = tqdm(iter(batches), total=self.steps_per_epoch, initial=start_step,
                   desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=cfg.progress is False if cfg.progress is not None else None)
        for i, (x, y) in enumerate(bar, start=start_step):
            lr = lr_fn(epoch * self.steps_per_epoch + i)
            if self.dist:  # loss and accuracy of the global batch, over every replica
                self.opt.learning_rate = lr
                loss, ok, n = self.dist.step(x, y)
            elif self.device:
                with self.tf.device(self.device):
                    loss, ok = self._step(x, y, self.tf.constant(lr, self.tf.float32))
            else:
                loss, ok = self._step(x, y, self.tf.constant(lr, self.tf.float32))
            if not self.dist:
                n = int(y.shape[0])
            pending.append((i, loss, ok, n))
            seen += n
            if on_steps is not None and (epoch * self.steps_per_epoch + i + 1) % cfg.log_every == 0:
                total_loss, correct, bad = _read_back(pending, total_loss, correct)  # a sync every log_every steps
                diverged = diverged if diverged is not None else bad
                on_steps(epoch * self.steps_per_epoch + i + 1, (total_loss - mark_loss) / (seen - mark_seen))
                mark_loss, mark_seen = total_loss, seen
            if on_checkpoint is not None and cfg.checkpoint_due(i + 1, self.steps_per_epoch):
                total_loss, correct, bad = _read_back(pending, total_loss, correct)
                diverged = diverged if diverged is not None else bad
                on_checkpoint(epoch, i + 1, [total_loss, correct, seen])
            if not bar.disable and time.perf_counter() - shown >= POSTFIX_SECONDS:
                total_loss, correct, bad = _read_back(pending, total_loss, correct)
                diverged = diverged if diverged is not None else bad
                if diverged is not None and not self.dist:  # workers stop together, at the end
                    break
                shown = time.perf_counter()
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}",
                                img_s=f"{(seen - seen0) / max(shown - t0, 1e-9):.0f}", refresh=False)
        bar.close()
        total_loss, correct, late = _read_back(pending, total_loss, correct)
        diverged = diverged if diverged is not None else late
        if diverged is not None:  # the weights are no longer usable: stop here, nothing of this epoch is saved
            return {"loss": float("nan"), "acc": 0.0, "n": seen, "lr": lr, "diverged_at": diverged}
        if self.dist:
            self.dist.sync_statistics()  # every replica ends the epoch with the same BatchNorm statistics
        return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "n": seen, "lr": lr,
                "timed": seen - seen0}

    def close(self) -> None:
        """Stop the loader's workers; give layers back the dtype policies they had before training (mixed
        precision is train-time only)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        for layer, policy in self._policies:
            layer.dtype_policy = policy
        self._policies = []

    def save_state(self, path: Path, meta: dict[str, Any]) -> None:
        """Every model and optimizer variable plus metadata in one .npz, written atomically."""
        arrays = {f"var/{i}": np.asarray(v.numpy()) for i, v in enumerate(self.model.variables)}
        arrays.update({f"opt/{i}": np.asarray(v.numpy()) for i, v in enumerate(self.opt.variables)})
        arrays["meta"] = np.array(json.dumps(meta))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write(path, buf.getvalue())

    def load_state(self, path: Path) -> dict[str, Any]:
        with np.load(path, allow_pickle=False) as z:
            n_var = sum(k.startswith("var/") for k in z.files)
            n_opt = sum(k.startswith("opt/") for k in z.files)
            if n_var != len(self.model.variables) or n_opt != len(self.opt.variables):
                raise ZooError(f"{path} was saved from a different model or optimizer setup (frozen stages or "
                               "optimizer changed?); resume with the same settings")
            for i, v in enumerate(self.model.variables):
                v.assign(z[f"var/{i}"])
            for i, v in enumerate(self.opt.variables):
                v.assign(z[f"opt/{i}"])
            return json.loads(str(z["meta"]))
