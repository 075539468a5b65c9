"""Run tracking: every training run's status file (``run.json``) and the trackers that receive its metrics.

- ``base``: the ``Tracker`` protocol, file names, the TensorBoard tags, which trackers ``ZOO_TRACKERS`` chooses.
- ``session``: ``RunSession``, which writes ``run.json`` and hands a run's config, per-step and per-epoch metrics
  and final report to the chosen trackers (rank 0 / the chief only).
- ``tensorboard_tracker``: the built-in TensorBoard tracker, a plugin module registered like any other.
"""

from __future__ import annotations

from ..plugins import register_builtin
from . import tensorboard_tracker
from .base import (
           EPOCH_KEYS,
           EPOCH_TAGS,
           RUN_FILE,
           STEP_TAG,
           TB_DIR,
           TRACKERS_ENV,
           Tracker,
           report_tags,
           selected_trackers,
)
from .session import RunSession

register_builtin("tensorboard", tensorboard_tracker)

__all__ = ["EPOCH_KEYS", "EPOCH_TAGS", "RUN_FILE", "STEP_TAG", "TB_DIR", "TRACKERS_ENV", "RunSession", "Tracker",
           "report_tags", "selected_trackers"]
