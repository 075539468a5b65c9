"""What a tracker is, the names of a run's tracking files and TensorBoard tags, and ``ZOO_TRACKERS``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

from .. import plugins
from ..errors import ZooError

RUN_FILE = "run.json"  # the run's state (running / finished / interrupted / failed), pid, wall time, what it trains
TB_DIR = "tb"  # TensorBoard event files, under the run directory
TRACKERS_ENV = "ZOO_TRACKERS"
DEFAULT_TRACKERS = ("tensorboard",)  # unset ZOO_TRACKERS: the built-in ones; third-party trackers are opt-in
STATES = ("running", "finished", "interrupted", "failed")

# history.json key -> TensorBoard tag (x axis: the 1-based epoch); the same in both frameworks
EPOCH_TAGS = {
    "train_loss": "train/loss",
    "train_acc": "train/accuracy",
    "val_loss": "val/loss",
    "val_acc": "val/accuracy",
    "lr": "train/lr",
    "images_per_second": "train/images_per_second",
    "seconds": "train/epoch_seconds",
}
EPOCH_KEYS = tuple(EPOCH_TAGS)  # what log_epoch gets
STEP_TAG = "train/step_loss"  # mean training loss of the last log_every steps (x axis: the global step)
REPORT_KEYS = ("accuracy", "top5_accuracy", "macro_f1")


def report_tags(report: Mapping[str, Any]) -> dict[str, float]:
    """The scalars of an evaluation report (report.json) as tags, e.g. ``eval/test_accuracy``."""
    split = report.get("split", "test")
    return {f"eval/{split}_{k}": float(report[k]) for k in REPORT_KEYS if report.get(k) is not None}


class Tracker(Protocol):
    """What a tracker factory returns. Metrics are plain floats keyed by history.json names (``train_loss``,
    ``val_acc``, ...; see EPOCH_TAGS) or, per step, ``{"train_loss": ...}``."""

    def log_step(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None: ...

    def finish(self, state: str, report: Mapping[str, Any] | None) -> None: ...


def selected_trackers() -> list[str]:
    """The trackers a run uses: ``ZOO_TRACKERS`` (comma-separated names, ``all``, or empty for none); unset means
    the built-in TensorBoard tracker when it is loaded."""
    registered = plugins.trackers()
    raw = os.environ.get(TRACKERS_ENV)
    if raw is None:
        return [name for name in DEFAULT_TRACKERS if name in registered]
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if names == ["all"]:
        return list(registered)
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise ZooError(f"{TRACKERS_ENV} names unknown tracker(s) {', '.join(unknown)}; registered trackers: "
                       f"{', '.join(registered) or 'none'} (install the plugin that provides it, or fix "
                       f"{TRACKERS_ENV})")
    return list(dict.fromkeys(names))
