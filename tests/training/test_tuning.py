"""zoo_core.training.tuning: the decision rule, its cache, --tune off, and trials that leave the user's model,
optimizer and RNG as they were (no timing asserts: the trial's timings are replaced where a choice matters)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo_core
from zoo_core import training
from zoo_core.data import builtin
from zoo_core.errors import ZooError
from zoo_core.training import tuning
from zoo_core.training.config import TrainConfig

SMALL = {"widths": [8, 16, 16], "hidden": 32}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def digits():
    return builtin("digits", limit=120, split=(0.8, 0.2, 0.0), seed=0)


def _small(framework, **kw):
    import torch

    torch.manual_seed(0)
    if framework == "tf":
        import keras

        keras.utils.set_random_seed(0)
    return zoo_core.load("simplecnn", framework, num_classes=10, input_size=16, **{**SMALL, **kw})


# ------------------------------------------------------------------------------------------ rule, cache, modes


def test_choose_needs_exactness_and_the_margin():
    exact = {"default": True, "channels_last": True}
    assert tuning.choose({"default": 1.0, "channels_last": 0.8}, exact) == "channels_last"
    assert tuning.choose({"default": 1.0, "channels_last": 0.99}, exact) == "default"  # within the 3 % margin
    assert tuning.choose({"default": 1.0, "channels_last": 0.5}, {**exact, "channels_last": False}) == "default"
    assert tuning.choose({"default": 1.0, "channels_last": 1.2}, exact) == "default"


def test_cache_key_changes_with_what_the_decision_depends_on():
    base = {"model": "resnet18", "batch": 32, "device": "cpu", "torch": "2.14.1", "input_size": [128, 128]}
    key = tuning.cache_key(base)
    assert tuning.cache_key(dict(reversed(base.items()))) == key  # order does not matter
    for change in ({"batch": 64}, {"device": "cuda:0"}, {"torch": "2.15.0"}, {"input_size": [224, 224]},
                   {"model": "resnet34"}):
        assert tuning.cache_key({**base, **change}) != key, change


def test_cache_round_trip_and_unreadable_files(tmp_path):
    key = tuning.cache_key({"model": "m"})
    assert tuning.load_cached(key) is None
    tuning.save_cached(key, {"key": key, "chosen": "channels_last", "settings": {"channels_last": True}})
    assert tuning.load_cached(key)["chosen"] == "channels_last"
    assert tuning.cache_file(key).parent == tmp_path / "cache" / "tuning"
    tuning.cache_file(key).write_text("{not json")
    assert tuning.load_cached(key) is None  # a broken file means a new trial, not a failed run
    tuning.save_cached(key, {"key": "another", "chosen": "x"})
    assert tuning.load_cached(key) is None  # a file that is not this key's decision is ignored


class FakeTrainer:
    """The tuning protocol with a scripted trial: counts trials, records the applied settings."""

    dist = None

    def __init__(self, seconds=None, exact=True):
        self.seconds = seconds or {"default": 1.0, "fast": 0.5}
        self.exact = exact
        self.trials, self.applied = 0, None

    def tuning_identity(self):
        return {"framework": "fake", "device": "cpu"}

    def tuning_candidates(self):
        return {"default": {}, "fast": {"fast": True}}

    def tuning_trial_steps(self, candidates):
        return 8

    def tuning_trial(self, candidates):
        self.trials += 1
        return {"seconds": self.seconds, "exact": {c: self.exact for c in self.seconds},
                "deviation": {c: 0.0 for c in self.seconds}, "steps": 4,
                "advice": {"bf16": {"native": True, "speedup": 1.3}}}

    def apply_tuning(self, settings):
        self.applied = settings


def test_trial_then_cache_hit_then_a_different_batch_misses():
    first = FakeTrainer()
    decision = tuning.tune(first, "auto", {"model": "m", "batch": 32}, run_steps=100)
    assert (first.trials, decision["chosen"], first.applied) == (1, "fast", {"fast": True})
    assert decision["source"] == "trial" and decision["speedup"] == 2.0
    again = FakeTrainer(seconds={"default": 1.0, "fast": 2.0})  # would choose the default if it were timed
    cached = tuning.tune(again, "auto", {"model": "m", "batch": 32}, run_steps=100)
    assert (again.trials, cached["source"], again.applied) == (0, "cache", {"fast": True})
    other = FakeTrainer(seconds={"default": 1.0, "fast": 2.0})
    assert tuning.tune(other, "auto", {"model": "m", "batch": 64}, run_steps=100)["chosen"] == "default"
    assert other.trials == 1 and other.applied == {}


def test_off_short_runs_and_inexact_candidates_keep_the_defaults():
    off = FakeTrainer()
    assert tuning.tune(off, "off", {"model": "m"}, run_steps=100)["source"] == "off"
    assert (off.trials, off.applied) == (0, {})
    short = FakeTrainer()
    decision = tuning.tune(short, "auto", {"model": "m"}, run_steps=7)  # the trial takes 8 steps
    assert (short.trials, decision["source"], short.applied) == (0, "skipped", {})
    assert tuning.load_cached(tuning.cache_key({"model": "m", **short.tuning_identity()})) is None
    inexact = FakeTrainer(exact=False)
    assert tuning.tune(inexact, "auto", {"model": "m"}, run_steps=100)["chosen"] == "default"


def test_report_line_is_one_line_with_the_advice():
    decision = tuning.tune(FakeTrainer(), "auto", {"model": "m"}, run_steps=100)
    line = tuning.report_line(decision)
    assert "\n" not in line and line.startswith("tune: fast (2.00x")
    assert "--mixed-precision bf16" in line and "1.30x" in line
    assert tuning.report_line({"source": "off", "chosen": "default"}).startswith("tune: off")


def test_bad_tune_value_is_a_one_line_error():
    with pytest.raises(ZooError, match="--tune auto") as info:
        TrainConfig(tune="fast")
    assert "\n" not in str(info.value)
    assert TrainConfig(tune="off").tune == "off"


# ------------------------------------------------------------------------------------------ torch


def test_torch_trial_leaves_weights_optimizer_and_rng_unchanged():
    import torch

    from zoo_core.training import torch_tuning

    model = _small("torch")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model(torch.randn(4, 1, 16, 16)).sum().backward()
    opt.step()  # the optimizer has state, as in a resumed run
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    moments = [s["exp_avg"].clone() for s in opt.state.values()]
    rng = torch.get_rng_state()
    model.eval()
    trial = torch_tuning.trial(model, opt, torch.nn.CrossEntropyLoss(), (8, 1, 16, 16), 10, torch.device("cpu"),
                               None, torch_tuning.candidates(4))
    assert set(trial["seconds"]) == {"default", "channels_last"}
    assert trial["exact"] == {"default": True, "channels_last": True}  # measured: max deviation <= 1e-4
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert all(torch.equal(s["exp_avg"], m) for s, m in zip(opt.state.values(), moments, strict=True))
    assert all(p.is_contiguous() for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng) and not model.training


def test_torch_trial_calls_bf16_logits_not_exact():
    """The float32 check can fail: bf16 autocast logits are not within the tolerance of float32 ones."""
    import torch

    from zoo_core.training import torch_tuning

    model = _small("torch")
    side = torch_tuning._Side(model, torch.optim.SGD(model.parameters(), lr=0.1), {}, None)
    x = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    ref = side.logits(x).detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = side.model(x).float().detach()
    assert torch_tuning.deviation(ref, low) > tuning.EXACT_RTOL


def test_channels_last_training_keeps_float32_results(digits, monkeypatch):
    """A run with channels_last applied (as a cached decision) trains to the same numbers as tune="off"."""
    plain = _small("torch")
    history = training.finetune(plain, digits, epochs=2, batch_size=16, progress=False, tune="off")
    assert history["tuning"]["source"] == "off"
    monkeypatch.setattr(tuning, "load_cached", lambda key: {"key": key, "chosen": "channels_last",
                                                            "settings": {"channels_last": True}, "speedup": 1.5})
    tuned = _small("torch")
    tuned_history = training.finetune(tuned, digits, epochs=2, batch_size=16, progress=False)
    assert tuned_history["tuning"]["chosen"] == "channels_last"
    np.testing.assert_allclose(tuned_history["train_loss"], history["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(tuned_history["val_loss"], history["val_loss"], rtol=1e-4)
    for (name, a), b in zip(plain.state_dict().items(), tuned.state_dict().values(), strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)
    assert all(p.is_contiguous() for p in tuned.parameters())  # the model leaves training as it came


# ------------------------------------------------------------------------------------------ keras


def test_keras_trial_restores_variables_and_checks_xla(digits):
    from zoo_core.data.preprocess import Preprocess
    from zoo_core.training import keras_loop, keras_tuning

    model = _small("tf", dropout=0.0)  # XLA draws other dropout masks: with dropout its loss is (rightly) inexact
    trainer = keras_loop.Trainer(model, digits, Preprocess.for_model(model), TrainConfig(batch_size=8))
    before = [np.array(v.numpy()) for v in model.variables + trainer.opt.variables]
    # jit_compile is a candidate on GPUs only; asked for here to run the trial's code path on this CPU
    trial = trainer.tuning_trial({"default": {}, "jit_compile": {"jit_compile": True}})
    assert set(trial["seconds"]) == {"default", "jit_compile"} and trial["exact"]["default"]
    assert trial["exact"]["jit_compile"], trial["deviation"]
    after = [np.array(v.numpy()) for v in model.variables + trainer.opt.variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert keras_tuning.candidates("/CPU:0") == {"default": {}}
    assert keras_tuning.CPU_NOTE in trainer.tuning_notes() or keras_tuning.on_gpu(trainer.device)
