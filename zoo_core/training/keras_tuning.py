"""The Keras tuning trial: the train step with and without XLA (``jit_compile``) timed on the user's model with
its variables and optimizer state restored afterwards, and a float32 check of the first step's loss.

On a CPU there is nothing to time: XLA measured 2-9x slower training steps on a 2-core AVX-512 CPU (#19), so it
is tried on GPUs only. Imported with TensorFlow by ``keras_loop``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..frameworks import import_keras, import_tensorflow
from .tuning import DEFAULT, EXACT_RTOL, MIN_PAIRS, cpu_flags, env_identity

tf = import_tensorflow()
WARMUP_STEPS = 1  # per candidate, untimed (tracing, XLA compilation)
TIMED_ROUNDS = MIN_PAIRS  # paired rounds, alternating order: the rule (tuning.verdict) needs this many
CPU_NOTE = "jit_compile is not tried on a CPU: XLA measured 2-9x slower training steps there (#19)"


def on_gpu(device: str | None) -> bool:
    """Whether the train step runs on a GPU (an explicit /GPU:n, or auto placement with a GPU present)."""
    if device is not None:
        return "GPU" in device.upper()
    return bool(tf.config.list_physical_devices("GPU"))


def identity(device: str | None, mixed_precision: str | None) -> dict[str, Any]:
    gpus = tf.config.list_physical_devices("GPU")
    name = ",".join(tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus) \
        if on_gpu(device) else "cpu"
    return {"framework": "tf", "tensorflow": tf.__version__, "keras": import_keras().__version__,
            "device": device or "auto", "device_name": name, "amp": mixed_precision, **env_identity()}


def candidates(device: str | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {DEFAULT: {}}
    if on_gpu(device):
        out["jit_compile"] = {"jit_compile": True}
    return out


def notes(device: str | None) -> list[str]:
    return [] if on_gpu(device) else [CPU_NOTE]


def bf16_native(device: str | None) -> bool:
    """Whether the device computes bfloat16 in hardware (Ampere+ GPUs; AVX512-BF16 / AMX CPUs)."""
    if on_gpu(device):
        details = [tf.config.experimental.get_device_details(g) for g in tf.config.list_physical_devices("GPU")]
        return any((d.get("compute_capability") or (0, 0))[0] >= 8 for d in details)
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def trial_steps(cands: dict[str, dict[str, Any]]) -> int:
    return len(cands) * (WARMUP_STEPS + TIMED_ROUNDS) + len(cands)  # + one exactness step each


def _snapshot(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def _restore(variables: list[Any], values: list[np.ndarray]) -> None:
    for v, value in zip(variables, values, strict=True):
        v.assign(value)


def trial(variables: list[Any], make_step: Callable[[bool], Any], batch_shape: tuple[int, ...], num_classes: int,
          lr: float, device: str | None, cands: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Time each candidate's train step (``make_step(jit_compile)``) on a fixed random batch, interleaved, and
    check that each one's first-step loss from the same state equals the default's; ``variables`` (the model's
    and the optimizer's) are put back as they were."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(batch_shape, dtype=np.float32))
    y = tf.constant(rng.integers(0, num_classes, batch_shape[0]), tf.int64)
    lr_t = tf.constant(lr, tf.float32)
    saved = _snapshot(variables)
    steps = {name: make_step(bool(settings.get("jit_compile"))) for name, settings in cands.items()}
    try:
        with tf.device(device) if device else contextlib.nullcontext():
            losses = {}
            for name, step in steps.items():
                _restore(variables, saved)
                losses[name] = float(step(x, y, lr_t)[0])
            ref = losses[DEFAULT]
            dev = {name: abs(v - ref) / max(abs(ref), 1e-12) for name, v in losses.items()}
            times: dict[str, list[float]] = {name: [] for name in steps}
            for r in range(WARMUP_STEPS + TIMED_ROUNDS):
                for name in (list(steps) if r % 2 == 0 else list(reversed(steps))):
                    t0 = time.perf_counter()
                    float(steps[name](x, y, lr_t)[0])  # waits for the step
                    if r >= WARMUP_STEPS:
                        times[name].append(time.perf_counter() - t0)
    finally:
        _restore(variables, saved)
    seconds = {name: float(np.median(v)) for name, v in times.items()}
    return {"seconds": seconds, "times": times, "exact": {n: d <= EXACT_RTOL for n, d in dev.items()}, "deviation": dev,
            "steps": WARMUP_STEPS + TIMED_ROUNDS + 1,
            "advice": {"bf16": {"native": bf16_native(device), "speedup": None}}}
