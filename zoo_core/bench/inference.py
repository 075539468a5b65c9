"""Inference speed through the zoo: time to first prediction (load + first forward, in a fresh process),
latency p50/p95 at batch 1 and at the benchmark batch, and images/s at that batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backends, factory, training
from ..data.preprocess import Preprocess
from ..layout import to_layout
from .common import median, percentile


def zoo_predictor(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The zoo's per-batch prediction path (what ``zoo.evaluate`` runs per batch): numpy in the model's layout
    in, numpy logits out."""
    return training.batch_predictor(model)


def model_input(model: Any, x_nhwc: np.ndarray) -> np.ndarray:
    """NHWC images in the model's input layout (NCHW for torch, standard strides)."""
    return to_layout(x_nhwc, backends.of(model).input_layout())


def time_to_first_prediction(name: str, framework: str, image: np.ndarray, input_size: int | None,
                             num_classes: int) -> tuple[Any, dict[str, float]]:
    """Load a model in a process that has not imported its framework yet and predict one raw image.

    Returns the model and the seconds of: the framework import, the build, preprocessing + the first forward,
    and their sum (time to first prediction); ``built_at``: the wall clock (time.time()) when the model was ready."""

    t0 = time.perf_counter()
    backends.get(framework)
    t1 = time.perf_counter()
    model = factory.load(name, framework, num_classes=num_classes, input_size=input_size)
    t2 = time.perf_counter()
    built_at = time.time()
    x = model_input(model, Preprocess.for_model(model).batch([image]))
    logits = zoo_predictor(model)(x)
    t3 = time.perf_counter()
    assert logits.shape == (1, num_classes), logits.shape
    return model, {"import_s": t1 - t0, "build_s": t2 - t1, "first_forward_s": t3 - t2, "ttfp_s": t3 - t0,
                   "built_at": built_at}


def _latencies(predict: Callable, x: np.ndarray, reps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        predict(x)
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        predict(x)
        out.append(time.perf_counter() - t0)
    return out


def measure(model: Any, x_nhwc: np.ndarray, batch: int, reps: int) -> dict[str, Any]:
    """Latency (p50/p95, ms) at batch 1 and at ``batch``; images/s at ``batch`` (from the median latency)."""
    predict = zoo_predictor(model)
    x = model_input(model, x_nhwc[:batch])
    one = x[:1]
    lat1 = _latencies(predict, one, reps, warmup=3)
    lat_b = _latencies(predict, x, max(reps // 2, 3), warmup=2)
    return {
        "latency_b1_p50_ms": 1e3 * median(lat1), "latency_b1_p95_ms": 1e3 * percentile(lat1, 95),
        "latency_p50_ms": 1e3 * median(lat_b), "latency_p95_ms": 1e3 * percentile(lat_b, 95),
        "images_per_second": len(x) / median(lat_b),
    }
