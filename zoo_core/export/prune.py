"""Magnitude pruning of conv and linear weights, saved as a normal zoo checkpoint (loads in both frameworks).

Both frameworks use one rule, in numpy on the model's canonical weights (no tensorflow-model-optimization, which does
not support Keras 3): the smallest |w| of each layer (torch.nn.utils.prune.l1_unstructured's rule), or whole output
channels with the smallest L1 norm (ln_structured(n=1, dim=0)'s rule), ties broken by position, so a model pruned in
either framework has exactly the same zeros. Structured pruning leaves the classifier head alone: zeroing its output
rows would delete classes. Pruned weights are stored as zeros: the checkpoint keeps its size (it compresses better),
and speed-ups need a sparse runtime or physically removing the zeroed channels.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends, models
from ..checkpoint.io import save
from ..errors import ZooError
from ..fileio import atomic_write
from .source import resolve

log = logging.getLogger("zoo.export")

REPORT_NAME = "prune_report.json"
_STATISTICS = ("running_mean", "running_var")  # BatchNorm buffers, not parameters


@dataclass
class PruneReport:
    framework: str
    method: str
    amount: float
    structured: bool
    layers: list[dict[str, Any]]
    sparsity: float  # zeros / weights over the pruned tensors
    model_sparsity: float  # zeros / all parameters
    path: str | None = None
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        where = f"; saved to {self.path}" if self.path else ""
        return (f"pruned {len(self.layers)} layers ({self.method}, amount {self.amount:g}) in {self.framework}: "
                f"{100 * self.sparsity:.1f}% of their weights are zero, {100 * self.model_sparsity:.1f}% of the "
                f"model{where}")

    def table(self) -> str:
        rows = [f"{'layer':<40} {'shape':<20} {'sparsity':>8}"]
        rows += [f"{r['layer']:<40} {'x'.join(map(str, r['shape'])):<20} {100 * r['sparsity']:>7.1f}%"
                 for r in self.layers]
        return "\n".join(rows)


def _n_prune(amount: float, n: int) -> int:
    return round(amount * n)  # torch.nn.utils.prune's rule (Python's round)


def prunable(tensors: dict[str, np.ndarray]) -> list[str]:
    """Canonical names of conv and linear weights: floating ``*.weight`` tensors of two or more dimensions."""
    return [k for k, v in tensors.items()
            if k.endswith(".weight") and np.ndim(v) >= 2 and np.issubdtype(np.asarray(v).dtype, np.floating)]


def magnitude_prune(w: np.ndarray, amount: float, structured: bool) -> np.ndarray:
    """Zero the smallest-|w| fraction ``amount`` of a canonical (torch layout) weight, or its output channels
    (dim 0) with the smallest L1 norm when ``structured``.

    The one rule both frameworks use, so they choose the same weights by construction: magnitudes (and channel
    norms, summed in float64 in a fixed order) are ranked with a stable sort, so ties go to the lowest position.
    (torch's ``topk`` and numpy's ``argpartition``, used before, broke a tie at the threshold each its own way: a
    float32 layer of millions of weights often holds two equal |w| there, and the two pruned checkpoints then
    differed by one weight.)"""
    w = np.array(w, copy=True)
    if structured:
        norms = np.abs(w.astype(np.float64)).reshape(w.shape[0], -1).sum(1)
        k = _n_prune(amount, w.shape[0])
        if k:
            w[np.argsort(norms, kind="stable")[:k]] = 0
        return w
    k = _n_prune(amount, w.size)
    if k:
        flat = w.reshape(-1)
        flat[np.argsort(np.abs(flat.astype(np.float64)), kind="stable")[:k]] = 0
    return w


def _classifier(model: Any, tensors: dict[str, np.ndarray], keys: list[str]) -> set[str]:
    """The head's weights whose output rows are the classes (structured pruning would delete classes)."""
    entry = models.spec_of(model).entry
    arch = models.get_architecture(entry)
    patterns = arch.stage_patterns.get(arch.head, ())
    return {k for k in keys
            if any(fnmatchcase(k, p) for p in patterns) and np.shape(tensors[k])[0] == entry.num_classes}


def _prune_canonical(model: Any, backend: Any, amount: float, structured: bool, skip: set[str]) -> list[str]:
    """Prune a model of either framework through its canonical weights with :func:`magnitude_prune`."""
    tensors = backend.to_canonical(model)
    done = [k for k in prunable(tensors) if k not in skip]
    backend.from_canonical(model, {k: magnitude_prune(tensors[k], amount, structured) for k in done}, strict=False)
    return done


def prune(src: Any, amount: float = 0.3, *, structured: bool = False, framework: str | None = None,
          out: str | os.PathLike | None = None) -> PruneReport:
    """Prune a zoo model or checkpoint; with ``out``, save it as a checkpoint directory (+ prune_report.json).

    ``amount``: the fraction of each layer's weights (or output channels, ``structured``) set to zero, in [0, 1).
    ``framework``: where to prune (default: the model's, or the framework a checkpoint was saved from). A model
    object is pruned in place.
    """
    if not 0 <= float(amount) < 1:
        raise ZooError(f"--amount {amount} is not a fraction in [0, 1): it is the share of weights set to zero")
    amount = float(amount)
    source = resolve(src, "prune", None, framework)
    model, fw = source.model, source.framework
    backend = backends.get(fw)
    start = backend.to_canonical(model)
    skip = _classifier(model, start, prunable(start)) if structured else set()
    done = _prune_canonical(model, backend, amount, structured, skip)
    method = "zoo magnitude pruning (" + ("L1 output channels" if structured else "smallest |w|") + ", numpy)"
    tensors = backend.to_canonical(model)
    layers = []
    for key in done:
        w = tensors[key]
        zeros = int(np.count_nonzero(w == 0))
        layers.append({"layer": key.removesuffix(".weight"), "tensor": key, "shape": list(w.shape),
                       "params": int(w.size), "zeros": zeros, "sparsity": zeros / max(w.size, 1)})
    floats = [v for k, v in tensors.items()
              if np.issubdtype(np.asarray(v).dtype, np.floating) and not k.endswith(_STATISTICS)]
    all_params = sum(int(np.size(v)) for v in floats)
    all_zeros = sum(int(np.count_nonzero(np.asarray(v) == 0)) for v in floats)
    pruned = sum(r["params"] for r in layers)
    report = PruneReport(framework=fw, method=method, amount=amount, structured=bool(structured), layers=layers,
                         sparsity=sum(r["zeros"] for r in layers) / max(pruned, 1),
                         model_sparsity=all_zeros / max(all_params, 1), skipped=sorted(skip))
    if out is not None:
        extra = {"pruning": {"method": method, "amount": amount, "structured": bool(structured),
                             "sparsity": report.sparsity, "source": source.description}}
        path = save(model, out, extra=extra)
        report.path = str(path)
        atomic_write(Path(path) / REPORT_NAME, (json.dumps(report.as_dict(), indent=2) + "\n").encode())
    log.info("%s", report.summary())
    return report
