"""Training speed and memory: seconds per epoch (median of the epochs after a warm-up), images/s, peak memory.

Runs inside a fresh worker process per (model, framework, batch), so the process's peak RSS belongs to this
training run alone (plus the model, the data and the framework itself, reported as ``rss_before_mb``). With the
overhead comparison on, the plain loop's epochs run between the zoo's (zoo_core.bench.overhead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..training import finetune
from ..training.tuning import summary
from .common import median, peak_rss_mb, rss_mb


def gpu_peak_mb(framework: str) -> float | None:
    """Peak GPU memory of this process (torch: max allocated; TF: the allocator's peak on GPU:0); None on CPU."""
    import sys

    if framework == "torch":
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
        return None
    tf = sys.modules.get("tensorflow")
    if tf is not None and tf.config.list_physical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return None


def measure(model: Any, data: Any, framework: str, batch: int, epochs: int, warmup: int, lr: float,
            seed: int, between: Callable[[], float] | None = None, tune: str = "auto") -> dict[str, Any]:
    """Train with ``zoo.finetune`` for ``warmup + epochs`` epochs (no validation, constant learning rate).

    ``between``: run after each zoo epoch (the plain loop's epoch, for the overhead comparison); its seconds are
    returned under ``between_seconds``. The peak RSS is then read after the zoo's first epoch, before anything
    else has run in the process (the zoo's own peak: every buffer exists after one epoch). ``tune``: the zoo's
    ``--tune`` (its trial runs before the first epoch, outside the epoch timings); what it chose is returned
    under ``tuning`` (the trial's timings included)."""
    before = rss_mb()
    peak: list[float] = []
    between_seconds: list[float] = []

    def after_epoch(epoch: int, history: dict[str, Any]) -> None:
        if epoch == 1:
            peak.append(peak_rss_mb())
        if between is not None:
            between_seconds.append(between())

    history = finetune(model, data, epochs=warmup + epochs, batch_size=batch, lr=lr, schedule="constant",
                       seed=seed, progress=False, callbacks=[after_epoch], tune=tune)
    seconds = history["seconds"][warmup:]
    per_epoch = median(seconds)
    n = len(data.train)
    return {
        "images": n,
        "steps_per_epoch": -(-n // batch),
        "epoch_seconds": history["seconds"],
        "seconds_per_epoch": per_epoch,
        "images_per_second": n / per_epoch,
        "train_loss": history["train_loss"][-1],
        "rss_before_mb": before,
        "peak_rss_mb": peak[0] if between is not None else peak_rss_mb(),
        "gpu_peak_mb": gpu_peak_mb(framework),
        "between_seconds": between_seconds,
        "tuning": {**summary(history["tuning"]), **{k: history["tuning"][k] for k in ("trial", "trial_s")
                                                     if k in history["tuning"]}},
    }
