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


def _rounds(base, gain, loads):
    """Synthetic paired timings: per round the default takes ``base`` and the candidate ``base / gain``, both
    multiplied by that round's machine load (what pairing cancels)."""
    return [base * load for load in loads], [base / gain * load for load in loads]


BUSY = [1.0, 3.1, 1.7, 4.0, 2.2, 1.1, 3.6, 2.8]  # a shared machine: a step takes 1-4x its idle time


def test_verdict_sees_a_gain_through_a_busy_machine():
    base, cand = _rounds(1.0, 1.25, BUSY)
    v = tuning.verdict(tuning.paired_ratios(base, cand))
    assert v["verdict"] == "faster" and v["median"] == pytest.approx(1.25) and v["spread"] == pytest.approx(0)
    assert (v["faster_pairs"], v["pairs"]) == (8, 8)
    # unpaired, the load swamps it: the candidate's slowest step is slower than the default's fastest
    assert max(cand) > 2 * min(base)
    slower_base, slower_cand = _rounds(1.0, 0.87, BUSY)  # convnext_atto's channels_last in the issue
    assert tuning.verdict(tuning.paired_ratios(slower_base, slower_cand))["verdict"] == "slower"


def test_verdict_keeps_the_default_on_ambiguous_evidence():
    def call(ratios):
        return tuning.verdict(ratios)["verdict"]

    assert call([1.10, 1.12, 1.09, 1.11]) == "faster"
    assert call([1.01, 1.02, 1.015, 1.02, 1.01]) == "ambiguous"  # consistent, but under the 3 % margin
    assert call([1.30, 1.25, 0.90, 0.85, 1.20, 0.95]) == "ambiguous"  # median 1.08 from 3 of 6 pairs
    assert call([1.5, 1.4, 0.7, 1.3]) == "faster"  # one load spike of 4 pairs is tolerated (3/4 faster) ...
    assert call([1.5, 1.4, 0.7, 0.8, 1.3]) == "ambiguous"  # ... two of five are not (4/5 needed)
    assert call([1.2, 1.2, 1.2]) == "ambiguous"  # fewer than MIN_PAIRS pairs: no verdict
    assert call([]) == "ambiguous" and tuning.verdict([])["median"] is None
    assert call([0.8, 0.85, 0.9, 0.82]) == "slower"
    v = tuning.verdict([1.0, 1.1, 1.2, 1.3, 1.4])
    assert v["median"] == pytest.approx(1.2) and v["spread"] == pytest.approx(0.2 / 1.2)


def test_decide_needs_exactness_a_faster_verdict_and_picks_the_largest_median():
    base, fast = _rounds(1.0, 1.4, BUSY)
    _, faster_inexact = _rounds(1.0, 2.0, BUSY)
    _, unsure = _rounds(1.0, 1.0, BUSY)
    cands = {"default": {}, "a": {"a": True}, "b": {"b": True}, "c": {"c": True}}
    trial = {"times": {"default": base, "a": fast, "b": faster_inexact, "c": unsure},
             "exact": {"default": True, "a": True, "b": False, "c": True}}
    decision = tuning.decide(trial, cands)
    assert (decision["chosen"], decision["settings"]) == ("a", {"a": True})
    assert decision["speedup"] == pytest.approx(1.4)
    assert decision["verdicts"]["b"]["verdict"] == "faster" and decision["verdicts"]["c"]["verdict"] == "ambiguous"
    trial["exact"]["a"] = False
    assert tuning.decide(trial, cands)["chosen"] == "default"
    # a setting timed on its own (the fused optimizer: optimizer steps) is added to the chosen one when faster
    opt_base, opt_fused = _rounds(0.05, 6.0, BUSY)
    trial["exact"].update(a=True, fused=True)
    trial["separate"] = {"fused": {"base": opt_base, "cand": opt_fused, "settings": {"fused_optimizer": True},
                                   "what": "optimizer step"}}
    decision = tuning.decide(trial, cands)
    assert decision["chosen"] == "a+fused" and decision["settings"] == {"a": True, "fused_optimizer": True}
    assert decision["speedup"] == pytest.approx(1.4)  # the whole-step gain of the memory format
    trial["exact"]["fused"] = False
    assert tuning.decide(trial, cands)["settings"] == {"a": True}
    trial["times"] = {"default": base, "a": unsure}
    trial["exact"]["fused"] = True
    assert tuning.decide(trial, {"default": {}, "a": {}})["chosen"] == "fused"


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
        self.seconds = seconds or {"default": 1.0, "fast": 0.5}  # per step, each round scaled by the load
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
        times = {c: [s * load for load in BUSY[:4]] for c, s in self.seconds.items()}
        return {"seconds": self.seconds, "times": times, "exact": {c: self.exact for c in self.seconds},
                "deviation": {c: 0.0 for c in self.seconds}, "steps": 4,
                "advice": {"bf16": {"native": True, "speedup": 1.3}}}

    def apply_tuning(self, settings):
        self.applied = settings


def test_trial_then_cache_hit_then_a_different_batch_misses():
    first = FakeTrainer()
    decision = tuning.tune(first, "auto", {"model": "m", "batch": 32}, run_steps=100)
    assert (first.trials, decision["chosen"], first.applied) == (1, "fast", {"fast": True})
    assert decision["source"] == "trial" and decision["speedup"] == pytest.approx(2.0)
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
    assert "\n" not in line and line.startswith("tune: fast (float32-exact")
    assert "fast 2.00x faster (4/4 pairs faster)" in line
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
                               None, torch_tuning.candidates(4), fused=True)
    assert set(trial["seconds"]) == {"default", "channels_last"}
    assert trial["exact"] == {"default": True, "channels_last": True, "fused": True}  # measured: <= 1e-4
    rounds = trial["rounds"]  # paired: one step of each candidate per round
    assert torch_tuning.MIN_ROUNDS <= rounds <= torch_tuning.MAX_ROUNDS
    assert len(trial["times"]["default"]) == len(trial["times"]["channels_last"]) == rounds
    fused = trial["separate"]["fused"]
    assert len(fused["base"]) == len(fused["cand"]) == torch_tuning.OPT_ROUNDS
    assert fused["settings"] == {"fused_optimizer": True}
    decision = tuning.decide(trial, torch_tuning.candidates(4))
    assert set(decision["verdicts"]) == {"channels_last", "fused"}
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


def test_set_fused_steps_like_a_fused_optimizer_and_trains_within_float32_noise(digits, monkeypatch):
    import torch

    from zoo_core.training import torch_tuning

    grads = [torch.randn(5, 3), torch.randn(3)]
    results = []
    for make in (lambda ps: torch.optim.AdamW(ps, lr=0.1, fused=True),
                 lambda ps: torch_tuning.set_fused(o := torch.optim.AdamW(ps, lr=0.1)) or o):
        ps = [torch.nn.Parameter(torch.ones_like(g)) for g in grads]
        opt = make(ps)
        for _ in range(3):
            for p, g in zip(ps, grads, strict=True):
                p.grad = g.clone()
            opt.step()
        results.append([p.detach() for p in ps])
    assert all(torch.equal(a, b) for a, b in zip(*results, strict=True))  # the same kernel

    plain = _small("torch")
    history = training.finetune(plain, digits, epochs=2, batch_size=16, progress=False, tune="off")
    monkeypatch.setattr(tuning, "load_cached", lambda key: {"key": key, "chosen": "fused",
                                                            "settings": {"fused_optimizer": True}, "speedup": 1.0})
    tuned = _small("torch")
    tuned_history = training.finetune(tuned, digits, epochs=2, batch_size=16, progress=False)
    assert tuned_history["tuning"]["settings"] == {"fused_optimizer": True}
    np.testing.assert_allclose(tuned_history["train_loss"], history["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(tuned_history["val_loss"], history["val_loss"], rtol=1e-4)


def test_a_resumed_run_keeps_the_fused_optimizer(digits, tmp_path):
    """The saved optimizer's param groups carry the saving run's implementation; load_state switches it back."""
    from zoo_core.data.preprocess import Preprocess
    from zoo_core.training import torch_loop

    model = _small("torch")
    plain = torch_loop.Trainer(model, digits, Preprocess.for_model(model), TrainConfig(batch_size=8))
    plain.save_state(tmp_path / "state.pt", {})  # saved without fused
    tuned = torch_loop.Trainer(model, digits, Preprocess.for_model(model), TrainConfig(batch_size=8))
    tuned.apply_tuning({"fused_optimizer": True})
    assert all(g["fused"] for g in tuned.opt.param_groups)
    tuned.load_state(tmp_path / "state.pt")
    assert all(g["fused"] and not g["foreach"] for g in tuned.opt.param_groups)
    assert not any(g["fused"] for g in plain.opt.param_groups)


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
