"""The PyTorch training step and epoch loop (``Trainer``); imported with torch, when a torch model trains."""

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

from ..data.loader import Batches, batches
from ..distributed import torch_ddp
from ..errors import ZooError
from ..fileio import atomic_write
from ..frameworks import import_torch
from . import torch_tuning

log = logging.getLogger("zoo.torch.train")
torch = import_torch()
POSTFIX_SECONDS = 0.5  # how often the progress bar's loss/accuracy are read back from the device


def resolve_device(device: str | None) -> Any:
    """"auto": cuda, then mps, then cpu. An explicit device that is not there is an error, not a silent fallback."""
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    try:
        dev = torch.device("cuda" if device == "gpu" else device)
    except RuntimeError as exc:
        raise ZooError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        raise ZooError(f"device {device!r} asked for, but torch sees {torch.cuda.device_count()} CUDA device(s); "
                       "use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ZooError("device 'mps' asked for, but MPS is not available here; use --device cpu or auto")
    return dev


def _atomic_torch_save(obj: Any, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


class Trainer:
    """One model's optimizer and loop. Every epoch reseeds torch from (seed, epoch) and shuffles with its own
    seeded generator, so a resumed run repeats exactly what an uninterrupted one does."""

    def __init__(self, model, data, pre, cfg):
        self.model, self.data, self.pre, self.cfg = model, data, pre, cfg
        self.dist = torch_ddp.from_env(cfg.device)  # None unless under torchrun with several processes
        self.is_main = self.dist is None or self.dist.is_main
        if not self.is_main:
            self.cfg = cfg = dataclasses.replace(cfg, progress=False)
        self.device = self.dist.device if self.dist else resolve_device(cfg.device)
        model.to(self.device)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ZooError("every parameter is frozen; unfreeze at least the head before training")
        decay = cfg.decay
        if cfg.optimizer == "adamw":
            self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=decay)
        elif cfg.optimizer == "adam":
            self.opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=decay)
        else:
            self.opt = torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=decay)
        self.amp_dtype = {None: None, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
                          "fp16": torch.float16, "float16": torch.float16}.get(cfg.mixed_precision, "bad")
        if self.amp_dtype == "bad":
            raise ZooError(f"unknown mixed_precision {cfg.mixed_precision!r}; use None, 'bf16' or 'fp16'")
        use_scaler = self.amp_dtype is torch.float16 and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        # mixed batches carry label-smoothed soft targets (zoo_core.data.mix): the loss must not smooth them again
        self.loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.0 if cfg.mix else cfg.label_smoothing)
        self.net = model  # what forward/backward runs through: the DDP wrapper when distributed
        self.shard = (0, 1)
        if self.dist:
            self.net = self.dist.wrap(model)
            self.shard = (self.dist.rank, self.dist.world_size)
        self._stream: Batches | None = None
        self.steps_per_epoch = len(self._batches(0, 1))
        self.memory_format = None  # torch.channels_last when tuning chose it (apply_tuning)
        self.fused_optimizer = False  # the optimizer's fused implementation, when tuning chose it

    def _batches(self, epoch: int, epochs: int, start: int = 0) -> Batches:
        """The training batches from ``epoch`` on (zoo_core.data.batches: one pool of workers for the rest of the
        run; the order and augmentation drawn from (seed, epoch), as in the Keras loop; this rank's share)."""
        cfg = self.cfg
        return batches(self.data.train, self.pre, batch_size=cfg.batch_size, train=True, seed=cfg.shuffle_seed(0),
                       epoch=epoch, workers=cfg.num_workers, framework="torch", augment=cfg.augment or False,
                       mix=cfg.mix, shard=self.shard, epochs=epochs, start=start)

    def _epoch_batches(self, epoch: int, start: int = 0):
        if start or self._stream is None or self._stream.next_epoch != epoch:
            if self._stream is not None:
                self._stream.close()
            self._stream = self._batches(epoch, self.cfg.epochs - epoch, start)
        pin = self.device.type == "cuda"
        for x, y in self._stream.epoch(epoch):
            x, y = torch.from_numpy(x), torch.from_numpy(y)
            yield (x.pin_memory(), y.pin_memory()) if pin else (x, y)

    def close(self) -> None:
        """Stop the loader's workers; the user's model leaves training in the memory format it came in."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self.memory_format is not None:
            self.model.to(memory_format=torch.contiguous_format)
            self.memory_format = None

    # -------------------------------------------------------------------------------- tuning (training.tuning)

    times_advice = True  # bf16 autocast is timed for advice even when there is one candidate

    def _trial_shape(self) -> tuple[int, ...]:
        return (min(self.cfg.batch_size, len(self.data.train)), self.pre.in_chans, *self.pre.input_size)

    def tuning_identity(self) -> dict[str, Any]:
        return torch_tuning.identity(self.device, self.amp_dtype)

    def tuning_candidates(self) -> dict[str, dict[str, Any]]:
        return torch_tuning.candidates(len(self._trial_shape()))

    def tuning_trial_steps(self, candidates: dict[str, dict[str, Any]]) -> int:
        return torch_tuning.trial_steps(candidates, self.device, self.amp_dtype)

    def tuning_trial(self, candidates: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return torch_tuning.trial(self.model, self.opt, self.loss_fn, self._trial_shape(), self.data.num_classes,
                                  self.device, self.amp_dtype, candidates,
                                  fused=torch_tuning.fused_supported(self.opt, self.device, self.amp_dtype))

    def apply_tuning(self, settings: dict[str, Any]) -> None:
        """Switch to the chosen settings; :meth:`close` puts the model back in the default memory format."""
        if settings.get("channels_last"):
            self.memory_format = torch.channels_last
            self.model.to(memory_format=torch.channels_last)
        if settings.get("fused_optimizer"):
            self.fused_optimizer = True
            torch_tuning.set_fused(self.opt)


    def train_epoch(self, epoch: int, lr_fn: Callable[[int], float],
                    on_steps: Callable[[int, float], None] | None = None, start_step: int = 0,
                    carried: Sequence[float] | None = None,
                    on_checkpoint: Callable[[int, int, list[float]], None] | None = None) -> dict[str, float]:
        """One epoch; ``on_steps(global_step, mean_loss)`` every ``cfg.log_every`` global steps, with the mean loss
        of the steps since the last call (within this epoch). ``start_step``: resume the epoch there (the RNG as
        the saved state left it), ``carried`` the (loss, correct, images) sums of the steps before it;
        ``on_checkpoint(epoch, step, sums)`` every ``cfg.checkpoint_every`` steps, between steps."""
        from tqdm.auto import tqdm

        cfg, model = self.cfg, self.model
        if not start_step:  # a resumed epoch goes on with the RNG state that was saved with it
            torch.manual_seed(cfg.rng_seed(epoch))
        model.train()
        loader = self._epoch_batches(epoch, start_step)
        # loss and accuracy are summed on the device and read back only for the progress bar (at most every
        # POSTFIX_SECONDS) and at the end: a host sync per step would stall a GPU's queue of work
        acc_dtype = torch.float32 if self.device.type == "mps" else torch.float64
        loss0, correct0, seen0 = carried if carried else (0.0, 0, 0)
        loss_sum = torch.full((), float(loss0), dtype=acc_dtype, device=self.device)
        correct_sum = torch.full((), int(correct0), dtype=torch.int64, device=self.device)
        seen, lr = int(seen0), cfg.lr
        step_losses = []  # per step, on the device: the first non-finite one is found only if the sum is not finite
        mark_loss, mark_seen = float(loss0), int(seen0)  # the sums at the last on_steps call
        t0 = shown = time.perf_counter()
        # one iterator: tqdm.auto would call iter() on the loader itself too (an extra shuffle, extra workers)
        bar = tqdm(loader, total=self.steps_per_epoch, initial=start_step, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   leave=False, disable=cfg.progress is False if cfg.progress is not None else None)
        for i, (x, y) in enumerate(bar, start=start_step):
            lr = lr_fn(epoch * self.steps_per_epoch + i)
            for g in self.opt.param_groups:
                g["lr"] = lr
            x = x.to(self.device, non_blocking=True)
            if self.memory_format is not None:
                x = x.contiguous(memory_format=self.memory_format)
            y = y.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                logits = self.net(x)
                loss = self.loss_fn(logits.float(), y)
            self.opt.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.opt)
            else:
                loss.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], cfg.grad_clip)
            if self.scaler is not None:
                self.scaler.step(self.opt)
                self.scaler.update()
            else:
                self.opt.step()
            n = len(y)
            step_losses.append(loss.detach())
            loss_sum += step_losses[-1].to(acc_dtype) * n
            correct_sum += (logits.detach().argmax(1) == (y.argmax(1) if y.ndim == 2 else y)).sum()
            seen += n
            if on_steps is not None and (epoch * self.steps_per_epoch + i + 1) % cfg.log_every == 0:
                total, count = float(loss_sum), seen  # a host sync every log_every steps only
                if self.dist:  # the loss of the global batches, as for the epoch's metrics
                    total, count = self.dist.sum(total, count)
                on_steps(epoch * self.steps_per_epoch + i + 1, (total - mark_loss) / (count - mark_seen))
                mark_loss, mark_seen = total, count
            if on_checkpoint is not None and cfg.checkpoint_due(i + 1, self.steps_per_epoch):
                sums = [float(loss_sum), int(correct_sum), seen]
                if self.dist:  # every rank's sums in rank 0's saved state; the other ranks resume from zero
                    total = list(self.dist.sum(*sums))
                    sums = total if self.dist.is_main else [0.0, 0, 0]
                on_checkpoint(epoch, i + 1, sums)
            if not bar.disable and time.perf_counter() - shown >= POSTFIX_SECONDS:
                shown = time.perf_counter()
                if not self.dist and not math.isfinite(float(loss_sum)):  # ranks stop together, at the end
                    break
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", acc=f"{int(correct_sum) / seen:.3f}",
                                img_s=f"{(seen - seen0) / max(shown - t0, 1e-9):.0f}", refresh=False)
        bar.close()
        model.eval()
        total_loss, correct = float(loss_sum), int(correct_sum)
        if not math.isfinite(total_loss):  # the weights are no longer usable: nothing of this epoch is saved
            bad = (~torch.isfinite(torch.stack(step_losses))).nonzero()
            return {"loss": float("nan"), "acc": 0.0, "n": seen, "lr": lr,
                    "diverged_at": int(bad[0]) if len(bad) else len(step_losses) - 1}
        if self.dist:  # every rank ends with rank 0's buffers and reports the metrics of all ranks
            self.dist.sync_buffers(model)
            total_loss, correct, seen = self.dist.sum(total_loss, correct, seen)
        return {"loss": total_loss / max(seen, 1), "acc": correct / max(seen, 1), "n": seen, "lr": lr,
                "timed": seen - int(seen0)}

    def save_state(self, path: Path, meta: dict[str, Any]) -> None:
        """Weights, optimizer, RNG and metadata in one file, written atomically."""
        _atomic_torch_save({
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": torch.get_rng_state(),
            "meta": json.dumps(meta),
        }, path)

    def load_state(self, path: Path) -> dict[str, Any]:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        if self.fused_optimizer:  # the saved param groups carry the saving run's implementation
            torch_tuning.set_fused(self.opt)
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"].cpu())
        return json.loads(state["meta"])
