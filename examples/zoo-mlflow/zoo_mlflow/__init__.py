"""zoo-mlflow: a zoo run tracker that records training runs in MLflow.

Registered through the zoo's ``register_trackers`` hook under the name ``mlflow``; a run uses it when
``ZOO_TRACKERS`` names it (e.g. ``ZOO_TRACKERS=tensorboard,mlflow``). The store is ``MLFLOW_TRACKING_URI`` when set,
else ``./mlruns`` (MLflow's local file store); the experiment is ``ZOO_MLFLOW_EXPERIMENT`` (default ``zoo``).
MLflow is imported only when a run starts, so ``zoo list`` stays fast.
"""

from __future__ import annotations

import zoo_core


@zoo_core.hookimpl
def register_trackers(register):
    from .tracker import MlflowTracker  # MLflow itself is imported when a run starts, in MlflowTracker()

    register("mlflow", MlflowTracker)
