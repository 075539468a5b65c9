"""schedule="plateau": the rule (training.config.Plateau), the same lr sequence in both frameworks, resumable."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoo_core
from zoo_core import training
from zoo_core.data import builtin
from zoo_core.errors import ZooError
from zoo_core.training.config import Plateau

LR = 1e-7  # so small that the val loss cannot improve by the 1e-4 threshold: every epoch after the first is flat


def test_plateau_rule():
    p = Plateau(patience=2, factor=0.5)
    reduced = [p.update(x) for x in [1.0, 0.9, 0.95, 0.9, 0.8999999, 0.91, 0.5]]
    # 0.9 improves; 0.95, 0.9 (not below 0.9) are two bad epochs: x0.5; 0.8999999 is within the relative 1e-4
    assert reduced == [False, False, False, True, False, True, False]
    assert p.scale == 0.25 and p.best == 0.5 and p.bad == 0
    q = Plateau(patience=2, factor=0.5)
    q.restore(json.loads(json.dumps(p.state())))
    assert q.state() == p.state()
    cfg = training.TrainConfig(epochs=3, lr=2.0, schedule="plateau", warmup_epochs=1)
    assert training.lr_at(cfg, 0, 2) == 1.0 and training.lr_at(cfg, 5, 2, scale=0.25) == 0.5


def test_bad_plateau_settings_are_errors():
    data = builtin("digits", limit=60, split=(0.6, 0.2, 0.2), seed=0)
    model = zoo_core.load("simplecnn", "torch", num_classes=10)
    with pytest.raises(ZooError, match="patience >= 1 and 0 < factor < 1, got patience 2 and factor 1.5"):
        training.finetune(model, data, schedule="plateau", plateau_factor=1.5)


@pytest.fixture(scope="module")
def digits():
    return builtin("digits", limit=120, split=(0.6, 0.2, 0.2), seed=0)


def _run(framework, data, out, monkeypatch=None, crash_after=None, resume=False):
    import torch

    torch.manual_seed(0)
    if framework == "tf":
        import keras

        keras.utils.set_random_seed(0)
    model = zoo_core.load("simplecnn", framework, num_classes=10)
    if crash_after is not None:
        real, calls = training.loop.plot_curves, []

        def crash(history, path):
            real(history, path)
            calls.append(1)
            if len(calls) == crash_after:
                raise KeyboardInterrupt  # dies after this epoch's files are written

        monkeypatch.setattr(training.loop, "plot_curves", crash)
    return training.finetune(model, data, epochs=4, lr=LR, batch_size=32, schedule="plateau", plateau_patience=1,
                             plateau_factor=0.1, out=out, resume=resume, progress=False)


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_plateau_reduces_the_same_way_in_both_frameworks_and_resumes(framework, digits, tmp_path, monkeypatch):
    full = _run(framework, digits, tmp_path / "full")
    # flat val loss: epoch 1 sets the best, each later epoch is a plateau of patience 1: x0.1 each time
    np.testing.assert_allclose(full["lr"], [LR, LR, LR * 0.1, LR * 0.01], rtol=1e-12)
    with pytest.raises(KeyboardInterrupt):
        _run(framework, digits, tmp_path / "cut", monkeypatch, crash_after=2)
    monkeypatch.undo()
    resumed = _run(framework, digits, tmp_path / "cut", resume=True)
    assert resumed["lr"] == full["lr"]  # the plateau state (scale, best, bad epochs) came back with the run
    if framework == "torch":  # and TensorBoard shows the whole run once, although two processes wrote it
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(tmp_path / "cut" / "tb"))
        acc.Reload()
        assert [(e.step, e.value) for e in acc.Scalars("train/lr")] == [
            (i + 1, float(np.float32(v))) for i, v in enumerate(resumed["lr"])]
