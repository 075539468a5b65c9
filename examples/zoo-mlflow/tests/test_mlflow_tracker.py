"""zoo-mlflow, installed as a user installs it (its entry point is how zoo finds it): a `zoo train` run with
ZOO_TRACKERS=tensorboard,mlflow is recorded in a local MLflow file store, metric for metric as in history.json.

Run with the package installed: ``pip install -e examples/zoo-mlflow && pytest examples/zoo-mlflow/tests``.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo_core as zoo

mlflow = pytest.importorskip("mlflow")


def test_found_through_its_entry_point():
    points = [ep for ep in md.entry_points(group="zoo") if ep.value == "zoo_mlflow"]
    assert points and points[0].dist.name == "zoo-mlflow", "pip install -e ./examples/zoo-mlflow first"
    info = {p.name: p for p in zoo.list_plugins()}["mlflow"]
    assert info.ok and info.trackers == ["mlflow"] and info.architectures == []


def _train(tmp_path: Path, *extra: str, trackers: str = "tensorboard,mlflow") -> subprocess.CompletedProcess:
    env = {**os.environ, "ZOO_TRACKERS": trackers, "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
           "ZOO_MLFLOW_EXPERIMENT": "zoo-test"}
    return subprocess.run(
        [sys.executable, "-m", "zoo_core", "train", "simplecnn", "--data", "mnist5k", "--framework", "torch",
         "--limit", "200", "--epochs", "2", "--split", "0.6,0.2,0.2", "--log-every", "2", "--out",
         str(tmp_path / "run"), *extra], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def test_a_run_is_recorded_in_a_local_mlflow_store(tmp_path):
    proc = _train(tmp_path)
    assert proc.returncode == 0, proc.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert (tmp_path / "mlruns").is_dir() and (tmp_path / "run" / "tb").is_dir()  # both trackers ran

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("zoo-test")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.tags["zoo.model"] == "simplecnn" and run.data.tags["zoo.framework"] == "torch"
    assert run.data.tags["zoo.data"] == "mnist5k"
    assert run.data.params["lr"] == "0.001" and run.data.params["epochs"] == "2"
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_second"):
        logged = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        assert [s for s, _ in logged] == history["epoch"], key
        np.testing.assert_allclose([v for _, v in logged], history[key], rtol=1e-12, err_msg=key)
    steps = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train_step_loss"))
    assert [s for s, _ in steps] == history["step"] and len(steps) >= 2
    np.testing.assert_allclose([v for _, v in steps], history["step_loss"], rtol=1e-12)
    assert run.data.metrics["test_accuracy"] == pytest.approx(report["accuracy"])


def test_unknown_tracker_is_a_one_line_error(tmp_path):
    proc = _train(tmp_path, trackers="tensorboard,mlfow")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("zoo: error: ZOO_TRACKERS names unknown tracker(s) mlfow")
    assert "mlflow" in proc.stderr and not (tmp_path / "mlruns").exists()
