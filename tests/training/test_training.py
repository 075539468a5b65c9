"""zoo_core.training: freezing, fine-tuning, evaluation and resume, in both frameworks (tiny, fast runs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoo_core
from zoo_core import training
from zoo_core.data import builtin
from zoo_core.errors import StageError, ZooError

FRAMEWORKS = ["torch", "tf"]
SMALL = {"widths": [8, 16, 16], "hidden": 32}  # three stages + head at 32x32


def _canonical(model):
    from zoo_core import backends

    return {k: np.array(v, copy=True) for k, v in backends.of(model).to_canonical(model).items()}


def _small(framework, **kw):
    import torch

    torch.manual_seed(0)
    if framework == "tf":
        import keras

        keras.utils.set_random_seed(0)
    return zoo_core.load("simplecnn", framework, **{"input_size": 32, **SMALL, **kw})


@pytest.fixture(scope="module")
def digits():
    return builtin("digits", limit=300, split=(0.6, 0.2, 0.2), seed=0)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_freeze_keeps_frozen_tensors_bit_identical(framework, digits):
    model = _small(framework)
    assert training.freeze(model, until="stage3") == ["stage1", "stage2", "stage3"]
    summary = training.trainable_summary(model)
    assert [(s, t) for s, _, t in summary] == [("stage1", False), ("stage2", False), ("stage3", False),
                                                ("head", True)]
    assert all(n > 0 for _, n, _ in summary)
    before = _canonical(model)
    training.finetune(model, digits, epochs=1, batch_size=32, lr=1e-2, progress=False)
    after = _canonical(model)
    frozen = [k for k in before if k.startswith("blocks.")]
    assert any(k.endswith("running_mean") for k in frozen)
    for k in frozen:
        np.testing.assert_array_equal(before[k], after[k], err_msg=k)
    for k in ("fc1.weight", "fc2.weight", "fc2.bias"):
        assert not np.array_equal(before[k], after[k]), k
    assert training.unfreeze(model) == []
    assert all(t for _, _, t in training.trainable_summary(model))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_stage_errors(framework):
    model = _small(framework)
    with pytest.raises(StageError, match="stage1, stage2, stage3, head"):
        training.freeze(model, until="layer9")
    with pytest.raises(StageError, match="freeze the head"):
        training.freeze(model, until="head")
    assert training.freeze(model, stages=["stage2"]) == ["stage2"]
    assert [t for _, _, t in training.trainable_summary(model)] == [True, False, True, True]


def test_frozen_torch_batchnorm_stays_in_eval_mode():
    model = _small("torch")
    training.freeze(model, until="stage1")
    model.train()
    assert not model.blocks[0].bn.training and model.blocks[1].bn.training
    training.unfreeze(model)
    model.train()
    assert model.blocks[0].bn.training


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_finetune_learns_and_writes_run(framework, digits, tmp_path):
    model = _small(framework, input_size=16, widths=[8, 16])
    history = training.finetune(model, digits, epochs=4, lr=3e-3, batch_size=32, out=tmp_path, progress=False,
                                schedule="constant", warmup_epochs=0.5, label_smoothing=0.1, grad_clip=5.0)
    assert history["epoch"] == [1, 2, 3, 4] and len(history["val_acc"]) == 4
    report = training.evaluate(model, digits.test, out=tmp_path)
    assert report["accuracy"] > 0.5, report["accuracy"]  # chance is 0.1; 0.65-0.83 over init seeds
    assert report["n"] == len(digits.test) and "top5_accuracy" in report
    assert set(report["per_class"]["3"]) == {"precision", "recall", "f1", "support"}
    assert np.asarray(report["confusion_matrix"]).sum() == len(digits.test)
    for name in ("history.json", "curves.png", "report.json", "confusion.png", "config.json", "model.safetensors"):
        assert (tmp_path / name).is_file(), name
    assert json.loads((tmp_path / "config.json").read_text())["label_names"] == digits.classes
    reloaded = zoo_core.load(str(tmp_path), framework)
    assert training.evaluate(reloaded, digits.test)["accuracy"] == pytest.approx(report["accuracy"])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_callbacks_see_each_epoch_and_can_stop_training(framework, digits, tmp_path):
    model = _small(framework)
    seen = []

    def record(epoch, history):
        seen.append((epoch, len(history["train_loss"]), (tmp_path / "history.json").is_file()))

    def stop_after_two(epoch, history):
        return epoch == 2

    history = training.finetune(model, digits, epochs=4, batch_size=64, out=tmp_path, progress=False,
                                callbacks=[record, stop_after_two])
    assert seen == [(1, 1, True), (2, 2, True)]  # after each epoch's files, with that epoch in the history
    assert history["epoch"] == [1, 2] and history["stopped_by"] == "stop_after_two"


def test_finetune_rejects_bad_settings(digits):
    model = _small("torch")
    with pytest.raises(ZooError, match="adamw, sgd, adam"):
        training.finetune(model, digits, optimizer="lamb")
    with pytest.raises(ZooError, match="num_classes=10"):
        training.finetune(zoo_core.load("simplecnn", "torch", num_classes=3), digits)


def test_lr_schedules():
    cfg = training.TrainConfig(epochs=4, lr=1.0, schedule="cosine", warmup_epochs=1)
    lrs = [training.lr_at(cfg, s, 10) for s in range(40)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0) and lrs[-1] < 0.01
    step = training.TrainConfig(epochs=3, lr=1.0, schedule="step")
    assert [training.lr_at(step, s, 1) for s in range(3)] == pytest.approx([1.0, 0.1, 0.01])


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_resume_matches_uninterrupted_run(framework, digits, tmp_path, monkeypatch):
    kwargs = {"epochs": 2, "batch_size": 32, "lr": 3e-3, "optimizer": "sgd", "progress": False}
    full = _small(framework)
    training.finetune(full, digits, out=tmp_path / "full", **kwargs)

    real_plot = training.loop.plot_curves

    def crash(history, path):
        real_plot(history, path)
        raise KeyboardInterrupt  # the run dies after epoch 1 was saved

    monkeypatch.setattr(training.loop, "plot_curves", crash)
    with pytest.raises(KeyboardInterrupt):
        training.finetune(_small(framework), digits, out=tmp_path / "cut", **kwargs)
    monkeypatch.setattr(training.loop, "plot_curves", real_plot)
    assert json.loads((tmp_path / "cut" / "history.json").read_text())["epoch"] == [1]

    resumed = _small(framework, widths=[8, 16, 16])  # a fresh model: the state file restores everything
    history = training.finetune(resumed, digits, out=tmp_path / "cut", resume=True, **kwargs)
    assert history["epoch"] == [1, 2]
    a, b = _canonical(full), _canonical(resumed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_resume_mid_epoch_matches_uninterrupted_run(framework, digits, tmp_path, monkeypatch):
    """checkpoint_every=2 (steps): a run killed in epoch 2 after its step-4 state resumes at step 4, with the same
    batches, augmentation and learning rates, and ends with the uninterrupted run's weights and epoch loss."""
    kwargs = {"epochs": 2, "batch_size": 32, "lr": 3e-3, "optimizer": "sgd", "progress": False,
              "augment": "crop,flip", "checkpoint_every": 2, "tune": "off"}
    full = _small(framework)
    want = training.finetune(full, digits, out=tmp_path / "full", **kwargs)
    real_write, calls = training.loop.write_json, []

    def crash(path, obj):  # states: epoch 1 steps 2, 4, its end; epoch 2 steps 2, 4 -> the run dies there
        real_write(path, obj)
        calls.append(path)
        if len(calls) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.loop, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        training.finetune(_small(framework), digits, out=tmp_path / "cut", **kwargs)
    monkeypatch.setattr(training.loop, "write_json", real_write)
    resumed = _small(framework, widths=[8, 16, 16])
    history = training.finetune(resumed, digits, out=tmp_path / "cut", resume=True, **kwargs)
    assert history["epoch"] == [1, 2]
    assert history["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6)
    a, b = _canonical(full), _canonical(resumed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mixed_precision_bf16_trains_and_leaves_a_float32_model(framework, digits):
    model = _small(framework)
    history = training.finetune(model, digits, epochs=1, batch_size=32, lr=3e-3, mixed_precision="bf16",
                                augment="crop,flip", progress=False)
    assert np.isfinite(history["train_loss"][0])
    weights = _canonical(model)
    assert all(v.dtype in (np.float32, np.int64) for v in weights.values())
    logits = training.predict_split(model, digits.test)
    assert logits.dtype == np.float32 and np.isfinite(logits).all()
    if framework == "tf":
        assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}


@pytest.mark.parametrize(("framework", "device", "message"), [
    ("torch", "cuda:99", "CUDA device"), ("torch", "tpu9", "unknown device"),
    ("tf", "gpu:99", r"sees \d+ GPU"), ("tf", "tpu9", "unknown device"),
])
def test_missing_device_is_an_error_not_a_fallback(framework, device, message, digits):
    with pytest.raises(ZooError, match=message):
        training.finetune(_small(framework), digits, epochs=1, device=device, progress=False)


def test_signals_wait_until_an_epochs_files_are_written():
    """SIGINT/SIGTERM during the block that writes an epoch's files are held, then delivered to the handler the
    program had; a signal the program ignores stays ignored."""
    import os
    import signal
    import time

    from zoo_core.training.loop import _interrupts_deferred

    got: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    try:
        with _interrupts_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert got == []  # held while the files are written
        assert got == [signal.SIGTERM]  # then delivered, once
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with _interrupts_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
        assert got == [signal.SIGTERM] and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)

BAD_SETTINGS = [
    ("epochs", 2.5, "whole number"), ("epochs", 0, "whole number"), ("epochs", True, "whole number"),
    ("epochs", "3", "whole number"), ("batch_size", 1.5, "whole number"), ("batch_size", 0, "whole number"),
    ("lr", float("nan"), "finite number > 0"), ("lr", float("inf"), "finite number > 0"),
    ("lr", 0, "finite number > 0"), ("lr", -1e-3, "finite number > 0"), ("lr", "fast", "finite number > 0"),
    ("label_smoothing", 2, r"number in \[0, 1\)"), ("label_smoothing", 1.0, r"number in \[0, 1\)"),
    ("label_smoothing", -0.1, r"number in \[0, 1\)"), ("label_smoothing", float("nan"), r"number in \[0, 1\)"),
    ("num_workers", -1, "whole number >= 0"), ("num_workers", 1.5, "whole number >= 0"),
    ("weight_decay", -0.1, "finite number >= 0"), ("weight_decay", float("inf"), "finite number >= 0"),
    ("grad_clip", 0, "finite number > 0"), ("grad_clip", -1, "finite number > 0"),
    ("grad_clip", float("nan"), "finite number > 0"), ("warmup_epochs", -1, "finite number >= 0"),
    ("seed", 1.5, "whole number >= 0"), ("seed", -1, "whole number >= 0"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_SETTINGS, ids=[f"{n}={v}" for n, v, _ in BAD_SETTINGS])
def test_train_config_rejects_bad_numbers_in_one_line(name, value, message):
    with pytest.raises(ZooError, match=rf"^{name} must be a {message}.*got") as info:
        training.TrainConfig(**{name: value})
    assert "\n" not in str(info.value)


def test_train_config_accepts_and_normalises_good_numbers():
    cfg = training.TrainConfig(epochs=np.int64(2), lr=1, batch_size=8.0, label_smoothing=0.1, weight_decay=0,
                               grad_clip=1, num_workers=0, seed=3)
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.grad_clip) == (2, 8, 1.0, 1.0)
    assert type(cfg.epochs) is int and type(cfg.lr) is float


def test_finetune_does_not_truncate_fractional_epochs(digits):
    with pytest.raises(ZooError, match=r"epochs must be a whole number >= 1, got 2.5"):
        training.finetune(_small("torch"), digits, epochs=2.5, progress=False)


@pytest.mark.parametrize(("model_classes", "limit"), [(3, 60), (12, 60)])
def test_evaluating_on_data_with_another_number_of_classes_names_both_counts(model_classes, limit):
    data = builtin("digits", limit=limit, split=(0.5, 0.0, 0.5))  # 10 classes
    model = zoo_core.load("simplecnn", "torch", num_classes=model_classes, input_size=8, widths=[8])
    with pytest.raises(ZooError, match=rf"model has {model_classes} classes but the test split has 10.*num_classes=10"):
        training.evaluate(model, data)
    with pytest.raises(ZooError, match=rf"{model_classes} classes.*10"):
        training.evaluate(model, data.test)


def test_evaluate_says_what_it_takes():
    model = zoo_core.load("simplecnn", "torch")
    with pytest.raises(ZooError, match=r"evaluate\(\) takes a zoo_core.data.Dataset .* or one of its splits.*"
                                       r"open_dataset\('mnist5k'\)"):
        training.evaluate(model, "mnist5k")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_mixup_cutmix_and_randaugment_train_on_soft_targets(framework, digits):
    """--mix gives label-smoothed soft targets: both loops (their loss and accuracy) train on them, with
    RandAugment on the in-memory fast path."""
    model = _small(framework, input_size=16, widths=[8, 16], dropout=0.0)
    history = training.finetune(model, digits, epochs=2, lr=3e-3, batch_size=32, progress=False,
                                label_smoothing=0.1, mix="mixup,cutmix", augment="crop,flip,randaugment", seed=3)
    assert all(np.isfinite(history["train_loss"])) and all(0 <= a <= 1 for a in history["train_acc"])
    assert history["val_acc"][-1] is not None
