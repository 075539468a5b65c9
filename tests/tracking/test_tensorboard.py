"""The acceptance of the TensorBoard tracker: a torch run and a Keras run of simplecnn on mnist5k write event files
whose scalars, read back with TensorBoard's own reader, equal history.json and report.json, under the same tags;
one TensorBoard server over both lists both runs and serves their curves."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import run_python, run_zoo
from zoo_core.distributed.env import free_port
from zoo_core.tracking import EPOCH_TAGS, STEP_TAG, TB_DIR, report_tags

pytest.importorskip("tensorboard")
FRAMEWORKS = ("torch", "tf")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for fw in FRAMEWORKS:
        proc = run_zoo("train", "simplecnn", "--data", "mnist5k", "--framework", fw, "--limit", "300", "--epochs",
                       "2", "--split", "0.6,0.2,0.2", "--log-every", "2", "--out", str(root / f"cnn-{fw}"),
                       env={"ZOO_TRACKERS": "tensorboard"})
        assert proc.returncode == 0, proc.stderr
    return root


def _scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / TB_DIR))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_scalars_read_back_equal_history(runs, fw):
    run = runs / f"cnn-{fw}"
    history = json.loads((run / "history.json").read_text())
    report = json.loads((run / "report.json").read_text())
    scalars = _scalars(run)
    for key, tag in EPOCH_TAGS.items():  # TensorBoard keeps float32: equal to history.json's values as float32
        assert [s for s, _ in scalars[tag]] == history["epoch"] == [1, 2], tag
        assert [v for _, v in scalars[tag]] == [float(np.float32(v)) for v in history[key]], tag
    assert history["step"] == [2, 4, 6]  # 180 train images, batch 64: 3 steps per epoch, logged every 2
    assert [s for s, _ in scalars[STEP_TAG]] == history["step"]
    assert [v for _, v in scalars[STEP_TAG]] == [float(np.float32(v)) for v in history["step_loss"]]
    for tag, value in report_tags(report).items():
        assert scalars[tag] == [(2, float(np.float32(value)))], tag
    assert "eval/test_accuracy" in scalars


def test_both_frameworks_write_the_same_tags(runs):
    tags = [set(_scalars(runs / f"cnn-{fw}")) for fw in FRAMEWORKS]
    assert tags[0] == tags[1] == {*EPOCH_TAGS.values(), STEP_TAG, "eval/test_accuracy",
                                   "eval/test_top5_accuracy", "eval/test_macro_f1"}


def test_the_writer_imports_no_framework(tmp_path):
    proc = run_python(f"""
        import sys
        from pathlib import Path
        from zoo_core.tracking.tensorboard_tracker import EventWriter
        w = EventWriter(Path({str(tmp_path)!r}))
        w.scalars(1, {{"train/loss": 0.5}})
        w.close()
        heavy = [m for m in ("torch", "tensorflow", "keras", "tensorboardX") if m in sys.modules]
        assert not heavy, heavy
    """)
    assert proc.returncode == 0, proc.stderr
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1


def _get(port: int, path: str, **query: str):
    url = f"http://127.0.0.1:{port}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_one_tensorboard_shows_both_runs(runs, tmp_path):
    port = free_port()
    log = (tmp_path / "tensorboard.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(runs), "--host",
                               "127.0.0.1", "--port", str(port), "--load_fast", "false", "--reload_interval", "1"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        expected = {f"cnn-{fw}/{TB_DIR}" for fw in FRAMEWORKS}
        deadline, names = time.monotonic() + 120, []
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "tensorboard.log").read_text()
            try:
                names = _get(port, "/data/runs")
            except (urllib.error.URLError, ConnectionError):
                names = []
            if expected <= set(names):
                break
            time.sleep(1)
        assert expected <= set(names), names
        tags = _get(port, "/data/plugin/scalars/tags")
        for run in expected:
            assert set(tags[run]) >= set(EPOCH_TAGS.values())
            history = json.loads((runs / run.split("/")[0] / "history.json").read_text())
            points = _get(port, "/data/plugin/scalars/scalars", run=run, tag="val/accuracy")
            assert [p[1] for p in points] == history["epoch"]  # [wall_time, step, value]
            np.testing.assert_allclose([p[2] for p in points], history["val_acc"], rtol=1e-6)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
