"""Parity at conversion: BatchNorm-calibrated weights, logits compared, node-by-node divergence when they differ."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..backends import keras_weights
from ..backends.torch_backend import calibrate_batchnorm
from ..frameworks import import_torch
from . import layout as L

RTOL = 1e-4  # max |Δlogits| relative to the largest |logit|


@dataclass
class Parity:
    """Logits of the torch model and the Keras model on one batch."""

    max_abs: float
    max_rel: float
    max_logit: float
    batch: list[int]
    weights: str

    @property
    def ok(self) -> bool:
        return self.max_rel <= RTOL

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rtol": RTOL, "ok": self.ok}


def calibrated(model: Any, x: Any, seed: int = 0) -> Any:
    """A copy of ``model`` with realistic random weights: norm scales/biases randomised, and each BatchNorm's
    statistics measured on its own eval-mode input for ``x`` (variance = the second moment, never below 1), so
    activations stay O(1) through deep nets and mapping bugs show in the logits (fresh statistics are 0/1)."""
    torch = import_torch()
    model = copy.deepcopy(model).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _name, p in model.named_parameters():
            if p.dim() <= 1:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
    calibrate_batchnorm(model, x, g)
    return model


def state_numpy(model: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def compare(torch_model: Any, keras_model: Any, x_nchw: np.ndarray, weights: str) -> Parity:
    torch = import_torch()
    with torch.no_grad():
        a = torch_model.eval()(torch.from_numpy(x_nchw)).numpy()
    b = np.asarray(keras_model(x_nchw.transpose(0, 2, 3, 1), training=False))
    diff = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
    scale = float(np.max(np.abs(a)))
    return Parity(diff, diff / max(scale, 1e-12), scale, list(x_nchw.shape), weights)


def first_divergence(program: Any, keras_model: Any, trace: list, x_nchw: np.ndarray,
                     state: dict[str, Any] | None = None) -> str:
    """The first traced op whose Keras output differs from torch's beyond RTOL: '<op> at <module> (<node>): ...'.
    ``state``: the torch tensors the Keras model holds (the calibrated weights), run in the traced program in place
    of the weights it was traced with."""
    torch = import_torch()
    keras = keras_model.__class__.__module__ and __import__("keras")
    gm = program.module()
    if state is not None:
        gm.load_state_dict(state, strict=False)
    captured: dict[str, Any] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            out = super().run_node(n)
            captured[n.name] = out
            return out

    with torch.no_grad():
        Recorder(gm).run(torch.from_numpy(x_nchw))
    pairs = [(name, op, path, v) for name, op, path, v in trace if name in captured
             and isinstance(captured[name], torch.Tensor)]
    if not pairs:
        return "no op could be compared"
    probe = keras.Model(keras_model.inputs, [v.tensor for *_, v in pairs])
    outs = probe(x_nchw.transpose(0, 2, 3, 1), training=False)
    outs = outs if isinstance(outs, (list, tuple)) else [outs]
    for (name, op, path, v), got in zip(pairs, outs, strict=True):
        want = captured[name].detach().cpu().numpy()
        axes = L.transpose_axes(L.identity(want.ndim), v.perm) if want.ndim == len(v.perm) else None
        want = want.transpose(axes) if axes else want
        got = np.asarray(got)
        if got.shape != want.shape:
            return f"{op} at {path or '(top)'} ({name}): shape {got.shape} in Keras, {want.shape} in torch"
        if want.dtype == bool or not np.issubdtype(want.dtype, np.floating):
            if not np.array_equal(got.astype(want.dtype), want):
                return f"{op} at {path or '(top)'} ({name}): values differ"
            continue
        diff = float(np.max(np.abs(got - want))) if want.size else 0.0
        scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-6)
        if diff / scale > RTOL:
            return f"{op} at {path or '(top)'} ({name}): max |Δ| {diff:.3g} ({diff / scale:.2g} relative)"
    return "every traced op agrees; the difference comes from the weights mapping"


def load_into_keras(keras_model: Any, tensors: dict[str, np.ndarray]) -> None:
    keras_weights.from_canonical(keras_model, tensors, strict=True)
