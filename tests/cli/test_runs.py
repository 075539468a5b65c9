"""`zoo runs`, `zoo runs compare`, `zoo info RUN` as a user runs them, on real runs: a finished one, one stopped
with SIGTERM, one killed with SIGKILL, and one still training."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_zoo, wait_for_epoch

TRAIN = ["simplecnn", "--data", "mnist5k", "--framework", "torch", "--split", "0.6,0.2,0.2", "--log-every", "5"]


def _popen_zoo(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "zoo_core", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)


def _epoch_of(run: Path) -> int:
    """The epoch run.json says the run has reached (0 before it exists)."""
    try:
        return int(json.loads((run / "run.json").read_text()).get("epoch", 0))
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _states(root: Path, cwd: Path) -> dict[str, dict]:
    proc = run_zoo("runs", str(root), "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return {Path(r["path"]).name: r for r in json.loads(proc.stdout)}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("done")
    for fw in ("torch", "tf"):
        proc = run_zoo("train", *TRAIN[:4], fw, *TRAIN[5:], "--limit", "200", "--epochs", "2", "--out",
                       str(root / "runs" / f"cnn-{fw}"))
        assert proc.returncode == 0, proc.stderr
    return root


def test_runs_lists_finished_interrupted_and_running(finished, tmp_path):
    runs = finished / "runs"
    live = _popen_zoo("train", *TRAIN, "--limit", "1000", "--epochs", "100", "--out", str(tmp_path / "live"),
                      cwd=tmp_path)
    killed = None
    try:
        wait_for_epoch(live, lambda: _epoch_of(tmp_path / "live"), 1)
        assert _states(tmp_path, tmp_path)["live"]["state"] == "running"  # still training
        live.send_signal(signal.SIGTERM)
        assert live.wait(timeout=120) == 143
        assert _states(tmp_path, tmp_path)["live"]["state"] == "interrupted"  # stopped, and said so
        killed = _popen_zoo("train", "--resume", str(tmp_path / "live"), cwd=tmp_path)
        wait_for_epoch(killed, lambda: _epoch_of(tmp_path / "live"), 3)
        killed.kill()  # SIGKILL: nothing is written; run.json still says running, but its process is gone
        killed.wait(timeout=60)
    finally:
        for proc in (live, killed):
            if proc is not None and proc.poll() is None:
                proc.kill()
    states = _states(tmp_path, tmp_path)
    assert states["live"]["state"] == "interrupted" and states["live"]["epochs"] >= 3
    assert states["live"]["epochs_planned"] == 100 and states["live"]["data"] == "mnist5k"

    table = run_zoo("runs", str(runs), str(tmp_path / "live"), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["run", "model", "framework", "data", "epochs", "best", "val", "acc", "test", "acc",
                                "images/s", "wall", "time", "state"]
    rows = {Path(line.split()[0]).name: line.split() for line in lines[2:]}
    report = json.loads((runs / "cnn-tf" / "report.json").read_text())
    history = json.loads((runs / "cnn-tf" / "history.json").read_text())
    assert rows["cnn-tf"][1:5] == ["simplecnn", "tf", "mnist5k", "2/2"]
    assert rows["cnn-tf"][5:7] == [f"{max(history['val_acc']):.4f}", f"{report['accuracy']:.4f}"]
    assert rows["cnn-tf"][-1] == rows["cnn-torch"][-1] == "finished" and rows["cnn-torch"][2] == "torch"
    assert rows["live"][-1] == "interrupted" and rows["live"][6] == "-"  # no test report for a stopped run


def test_compare_writes_a_png_and_a_table(finished, tmp_path):
    runs = finished / "runs"
    proc = run_zoo("runs", "compare", str(runs / "cnn-torch"), str(runs / "cnn-tf"), "--out",
                   str(tmp_path / "cmp.png"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = (tmp_path / "cmp.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    assert "cnn-torch" in proc.stdout and "cnn-tf" in proc.stdout and f"in {tmp_path / 'cmp.png'}" in proc.stdout
    one = run_zoo("runs", "compare", str(runs / "cnn-tf"), cwd=tmp_path)
    assert one.returncode == 1 and "two or more run directories" in one.stderr


def test_info_shows_a_runs_labels_epochs_and_metrics(finished, tmp_path):
    run = finished / "runs" / "cnn-torch"
    proc = run_zoo("info", str(run), "--no-params", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    history = json.loads((run / "history.json").read_text())
    assert f"run {run}: finished, 2/2 epochs" in proc.stdout
    assert "labels         0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in proc.stdout
    assert "test report    accuracy" in proc.stdout
    rows = [line.split() for line in proc.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [float(r[4]) for r in rows] == pytest.approx(history["val_loss"], rel=1e-3)
    js = json.loads(run_zoo("info", str(run), "--no-params", "--json", cwd=tmp_path).stdout)["run"]
    assert js["state"] == "finished" and js["history"] == history and js["labels"] == [str(i) for i in range(10)]


def test_runs_of_a_folder_without_runs(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_zoo("runs", str(tmp_path / "empty"), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"no training runs in {tmp_path / 'empty'}"
    missing = run_zoo("runs", cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.strip() == (
        "zoo: error: no runs/ folder here; give the folders that hold your runs: zoo runs DIR ...")
