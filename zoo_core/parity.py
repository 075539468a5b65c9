"""Numerical parity between two models of one entry: realistic random weights and the logits compared.

Layer 3: used by the Hub (parity measured at push), checkpoint conversion and the plugin contract kit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backends, models
from .layout import to_layout

ATOL = 1e-4  # max |Δlogits|, absolute
RTOL = 1e-5  # max |Δlogits| relative to the largest |logit|


def randomize(tensors: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """Perturb canonical tensors so that mapping bugs show in the logits.

    Random init hides them: fresh BatchNorm statistics are 0/1, timm zero-inits the last BN gamma of each ResNet
    block, biases start at 0. Running variances become U(0.5, 1.5), other 1-D tensors (norm scales, biases, running
    means) get N(0, 0.1) added, larger tensors N(0, 0.01), integer counters a random count. For deep BatchNorm nets
    prefer ``realistic_weights``, which keeps activations (and so float32 error) at a realistic scale.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for key, value in tensors.items():
        v = np.asarray(value)
        if not np.issubdtype(v.dtype, np.floating):
            out[key] = np.asarray(rng.integers(1, 100), dtype=v.dtype).reshape(v.shape)
        elif key.endswith("running_var"):
            out[key] = rng.uniform(0.5, 1.5, v.shape).astype(v.dtype)
        elif v.ndim <= 1:
            out[key] = (v + rng.normal(0, 0.1, v.shape)).astype(v.dtype)
        else:
            out[key] = (v + rng.normal(0, 0.01, v.shape)).astype(v.dtype)
    return out


def realistic_weights(entry: Any, seed: int = 0, batch: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Canonical weights of ``entry`` (a registry entry) with every tensor randomised, BatchNorm included.

    Independent random BatchNorm statistics let activations grow block after block in eval mode (ResNet-50 logits
    reach ~600, EfficientNet ~3e4, where float32 alone moves them past 1e-4). So each BatchNorm, in forward
    order, gets statistics measured on its actual eval-mode input for ``batch`` (NCHW; the batch the logits will
    be compared on, or a random one): running_var = max(E[x²], 1) × U(0.75, 1.25), running_mean = N(0, 0.1)·rms
    (normalising by the second moment, never below 1, amplifies neither activations nor float32 error); weights
    U(0.5, 1.5), biases N(0, 0.2). Logits stay O(1..10). Needs torch.
    """
    torch = backends.get("torch").import_framework()
    model = models.build(entry, "torch").eval()
    tb = backends.get("torch")
    start = tb.to_canonical(model)  # the architecture's own init for weights; 1-D tensors (norms, biases) perturbed
    tb.from_canonical(model, {k: v if v.ndim > 1 else randomize({k: v}, seed)[k] for k, v in start.items()})
    g = torch.Generator().manual_seed(seed)
    h, w = entry.input_size
    x = torch.randn(8, entry.in_chans, h, w, generator=g) if batch is None else torch.from_numpy(batch)
    tb.calibrate_batchnorm(model, x, g)
    return tb.to_canonical(model)


def random_batch(entry: Any, batch: int = 2, seed: int = 0) -> np.ndarray:
    """A standard-normal NCHW float32 batch of the entry's input size (what parity is measured on)."""
    h, w = entry.input_size
    return np.random.default_rng(seed).standard_normal((batch, entry.in_chans, h, w)).astype(np.float32)


def compare(model_a: Any, model_b: Any, *, batch: int = 2, seed: int = 0) -> tuple[float, float, float]:
    """Max |Δlogits| (absolute, relative to the largest |logit|) of two zoo models on one random batch."""
    entry = models.spec_of(model_a).entry
    x = random_batch(entry, batch, seed)
    fa, fb = backends.framework_of(model_a), backends.framework_of(model_b)
    a = backends.get(fa).predict(model_a, to_layout(x, fa, source="NCHW"))
    b = backends.get(fb).predict(model_b, to_layout(x, fb, source="NCHW"))
    diff = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(a)))
    return diff, diff / max(scale, 1e-12), scale
