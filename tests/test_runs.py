"""zoo_core.runs: what a run directory says (state, metrics), for runs with and without run.json."""

from __future__ import annotations

import json
import os
import socket

import pytest

import zoo_core as zoo
from zoo_core import runs
from zoo_core.errors import ZooError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cnn"
    data = zoo.data.builtin("digits", split=(0.6, 0.2, 0.2), seed=0, limit=100)
    model = zoo.load("simplecnn", framework="torch", num_classes=data.num_classes)
    with zoo.RunSession(out) as session:
        history = zoo.finetune(model, data, epochs=2, batch_size=16, out=out, progress=False, run=session)
        session.set_report(zoo.evaluate(model, data.test, out=out))
    return out, history


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_a_finished_run(run_dir):
    out, history = run_dir
    run = runs.read_run(out)
    report = json.loads((out / "report.json").read_text())
    assert (run.state, run.model, run.framework, run.data, run.epochs, run.epochs_planned) == (
        "finished", "simplecnn", "torch", "digits", 2, 2)
    assert run.best_val_acc == max(history["val_acc"]) and run.test_acc == report["accuracy"]
    assert run.labels == [str(i) for i in range(10)] and run.wall_seconds > 0
    assert runs.table_rows([run])[0][-1] == "finished"


def test_running_here_vs_elsewhere(run_dir, tmp_path):
    run = _copy(run_dir[0], tmp_path / "copy")
    record = json.loads((run / "run.json").read_text())
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)  # a pid that no process has now
    (run / "run.json").write_text(json.dumps({**record, "state": "running", "pid": dead}))
    assert runs.read_run(run).state == "interrupted"  # its process is gone: killed
    (run / "run.json").write_text(json.dumps({**record, "state": "running", "pid": os.getpid()}))
    assert runs.read_run(run).state == "running"
    (run / "run.json").write_text(json.dumps({**record, "state": "running", "pid": dead, "host": "elsewhere"}))
    assert socket.gethostname() != "elsewhere" and runs.read_run(run).state == "running"  # cannot tell: as said


def test_a_run_from_before_run_json(run_dir, tmp_path):
    run = _copy(run_dir[0], tmp_path / "old")
    (run / "run.json").unlink()
    (run / "train_args.json").write_text(json.dumps({"model": "simplecnn", "data": "digits", "epochs": 5}))
    old = runs.read_run(run)
    assert old.state == "interrupted" and old.epochs == 2 and old.epochs_planned == 5 and old.framework == "torch"
    (run / "train_args.json").write_text(json.dumps({"epochs": 2}))
    assert runs.read_run(run).state == "finished"


def test_find_runs_and_errors(run_dir, tmp_path):
    out = run_dir[0]
    assert [r.path for r in runs.find_runs([out.parent])] == [out]  # tb/ and interrupted/ are not searched
    with pytest.raises(ZooError, match="is not a training run"):
        runs.read_run(tmp_path)
    with pytest.raises(ZooError, match="is not a directory"):
        runs.find_runs([tmp_path / "missing"])
