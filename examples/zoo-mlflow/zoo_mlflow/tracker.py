"""``MlflowTracker``: one MLflow run per zoo run (per process that trains it: a resumed run is a new MLflow run,
tagged with the same run directory)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_URI = "mlruns"  # MLflow's local file store, relative to the working directory
EXPERIMENT_ENV = "ZOO_MLFLOW_EXPERIMENT"
STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI") or Path(DEFAULT_URI).resolve().as_uri()
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps the file store in maintenance mode and refuses it unless asked; this plugin's job is to
        # write there, so it asks (a database URI in MLFLOW_TRACKING_URI is used as it is)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value if isinstance(value, str) else json.dumps(value, default=str)


class MlflowTracker:
    """Params: the run's config (flattened); tags: model, framework, data, run directory; metrics: per step
    ``train_step_loss`` (x = global step), per epoch the history's metrics (x = epoch), at the end the report's."""

    def __init__(self, run: Mapping[str, Any]):
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        self._Metric, self._Param = Metric, Param
        self.client = MlflowClient(tracking_uri=tracking_uri())
        name = os.environ.get(EXPERIMENT_ENV, "zoo")
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        tags = {f"zoo.{k}": str(run[k]) for k in ("model", "framework", "data", "out") if run.get(k) is not None}
        self.run_id = self.client.create_run(experiment_id, run_name=Path(str(run.get("out", "run"))).name,
                                             tags=tags).info.run_id
        params: dict[str, str] = {}
        _flat("", {"epochs": run.get("epochs"), "start_epoch": run.get("start_epoch"), **run.get("config", {})},
              params)
        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:500]) for k, v in params.items()])
        self.last_epoch = int(run.get("start_epoch") or 0)

    def _metrics(self, step: int, values: Mapping[str, Any]) -> None:
        now = int(time.time() * 1000)
        metrics = [self._Metric(k, float(v), now, int(step)) for k, v in values.items() if v is not None]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_step(self, step: int, metrics: Mapping[str, float]) -> None:
        self._metrics(step, {"train_step_loss": metrics.get("train_loss")})

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self._metrics(epoch, metrics)
        self.last_epoch = epoch

    def finish(self, state: str, report: Mapping[str, Any] | None) -> None:
        if report:
            split = report.get("split", "test")
            self._metrics(self.last_epoch, {f"{split}_{k}": report.get(k)
                                            for k in ("accuracy", "top5_accuracy", "macro_f1")})
        self.client.set_terminated(self.run_id, STATUS.get(state, "FAILED"))
