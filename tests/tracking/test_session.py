"""Trackers as plugins: a tracker registered through the register_trackers hook receives the run's config, its
per-step and per-epoch metrics and the final report; ZOO_TRACKERS chooses; a failing tracker never stops training;
only the process that writes the run's files tracks."""

from __future__ import annotations

import json

import pytest

import zoo_core as zoo
from zoo_core import ZooError, hookimpl, plugins
from zoo_core.tracking import RUN_FILE, TB_DIR, RunSession, selected_trackers


class Recorder:
    """A third-party tracker as a plugin writes one: it keeps what it is given."""

    calls: list[tuple] = []

    def __init__(self, run):
        Recorder.calls.append(("start", run))

    def log_step(self, step, metrics):
        Recorder.calls.append(("step", step, dict(metrics)))

    def log_epoch(self, epoch, metrics):
        Recorder.calls.append(("epoch", epoch, dict(metrics)))

    def finish(self, state, report):
        Recorder.calls.append(("finish", state, report))


class Broken:
    """A tracker whose backend fails after the start."""

    def __init__(self, run):
        Recorder.calls.append(("broken started",))

    def log_step(self, step, metrics):
        pass

    def log_epoch(self, epoch, metrics):
        raise RuntimeError("the tracking server is down")

    def finish(self, state, report):
        Recorder.calls.append(("broken finished",))


class RecorderPlugin:
    @hookimpl
    def register_trackers(self, register):
        register("recorder", Recorder)
        register("broken", Broken)


@pytest.fixture
def recorder():
    Recorder.calls = []
    plugins.register_plugin(RecorderPlugin(), "recorder-plugin")
    yield Recorder.calls
    plugins.unregister_plugin("recorder-plugin")


@pytest.fixture(scope="module")
def data():
    return zoo.data.builtin("digits", split=(0.6, 0.2, 0.2), seed=0, limit=120)


def _train(data, out, **kw):
    model = zoo.load("simplecnn", framework="torch", num_classes=data.num_classes)
    return zoo.finetune(model, data, epochs=2, batch_size=16, out=out, progress=False, log_every=2, **kw)


def test_a_plugin_tracker_gets_config_steps_epochs_and_report(recorder, data, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_TRACKERS", "recorder,broken")
    info = {p.name: p for p in zoo.list_plugins()}
    assert info["recorder-plugin"].trackers == ["recorder", "broken"]
    assert info["tensorboard"].trackers == ["tensorboard"] and info["tensorboard"].distribution == "zoo"
    with RunSession(tmp_path) as run:
        history = _train(data, tmp_path, run=run)
        run.set_report({"split": "test", "accuracy": 0.5, "n": 24})
    kinds = [c[0] for c in recorder]
    assert kinds[:2] == ["start", "broken started"] and kinds[-1] == "finish"
    assert "broken finished" not in kinds  # dropped after its failure, and training went on
    start = recorder[0][1]
    assert start["model"] == "simplecnn" and start["framework"] == "torch" and start["data"] == "digits"
    assert start["config"]["lr"] == 1e-3 and start["epochs"] == 2 and start["steps_per_epoch"] == 5
    steps = [(c[1], c[2]["train_loss"]) for c in recorder if c[0] == "step"]
    assert steps == list(zip(history["step"], history["step_loss"], strict=True)) and len(steps) == 5
    epochs = [c for c in recorder if c[0] == "epoch"]
    assert [e[1] for e in epochs] == [1, 2]
    assert [e[2]["val_acc"] for e in epochs] == history["val_acc"]
    assert recorder[-1] == ("finish", "finished", {"split": "test", "accuracy": 0.5, "n": 24})
    assert not (tmp_path / TB_DIR).exists()  # ZOO_TRACKERS without tensorboard: no event files
    record = json.loads((tmp_path / RUN_FILE).read_text())
    assert record["state"] == "finished" and record["epoch"] == 2 and record["trackers"] == ["recorder", "broken"]


def test_interrupted_run_is_marked_and_trackers_told(recorder, data, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_TRACKERS", "recorder")

    def stop(epoch, history):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(data, tmp_path, callbacks=[stop])
    assert recorder[-1] == ("finish", "interrupted", None)
    assert json.loads((tmp_path / RUN_FILE).read_text())["state"] == "interrupted"


def test_zoo_trackers_chooses(recorder, monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo")  # the zoo's own plugins (and the one registered here) only
    monkeypatch.delenv("ZOO_TRACKERS", raising=False)
    assert selected_trackers() == ["tensorboard"]  # third-party trackers are opt-in
    monkeypatch.setenv("ZOO_TRACKERS", "")
    assert selected_trackers() == []
    monkeypatch.setenv("ZOO_TRACKERS", "all")
    assert selected_trackers() == ["tensorboard", "recorder", "broken"]
    monkeypatch.setenv("ZOO_TRACKERS", "tensorbord")
    with pytest.raises(ZooError, match="unknown tracker.*tensorbord; registered trackers: tensorboard, recorder"):
        selected_trackers()


def test_no_out_no_tracking(recorder, data, monkeypatch):
    monkeypatch.setenv("ZOO_TRACKERS", "recorder")
    model = zoo.load("simplecnn", framework="torch", num_classes=data.num_classes)
    history = zoo.finetune(model, data, epochs=1, batch_size=16, progress=False, log_every=2)
    assert recorder == [] and history["step"] == [2, 4]  # the history still has the per-step losses
