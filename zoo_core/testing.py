"""Contract checks for architecture plugins: every built-in plugin passes them, and so should third-party ones.

    from zoo_core.testing import check_parity
    report = check_parity("my_model", input_size=64)   # raises AssertionError with the numbers if it fails

Each check builds real models in both frameworks; run them in tests (torch imported before TensorFlow).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, models

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
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    g = torch.Generator().manual_seed(seed)
    h, w = entry.input_size
    x = torch.randn(8, entry.in_chans, h, w, generator=g) if batch is None else torch.from_numpy(batch)
    order: list[Any] = []
    hooks = [m.register_forward_pre_hook(lambda m, inp: order.append(m)) for m in norms]
    with torch.no_grad():
        model(x)
        for hook in hooks:
            hook.remove()
        for norm in dict.fromkeys(order):  # forward order, each once
            seen: dict[str, Any] = {}
            hook = norm.register_forward_pre_hook(lambda m, inp, seen=seen: seen.setdefault("x", inp[0]))
            model(x)
            hook.remove()
            dims = [d for d in range(seen["x"].dim()) if d != 1]
            # the second moment, not the variance: x / rms(x) stays O(1) and subtracts no large mean (which
            # would cancel digits and amplify float32 error); offsets stay small against the rms
            second = seen["x"].square().mean(dims)
            second = torch.clamp(second, min=1.0)  # never amplify: small activations stay small, as at init
            c = norm.num_features
            norm.running_mean.copy_(torch.randn(c, generator=g) * 0.1 * second.sqrt())
            norm.running_var.copy_(second * (torch.rand(c, generator=g) * 0.5 + 0.75))
            norm.weight.copy_(torch.rand(c, generator=g) + 0.5)
            norm.bias.copy_(torch.randn(c, generator=g) * 0.2)
            norm.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=g)))
    return tb.to_canonical(model)


def to_layout(x_nchw: np.ndarray, framework: str) -> np.ndarray:
    return x_nchw if framework == "torch" else x_nchw.transpose(0, 2, 3, 1)


@dataclass
class ParityReport:
    model: str
    source: str
    target: str
    max_abs: float
    max_rel: float
    max_logit: float
    roundtrip_exact: bool
    tensors: int

    @property
    def ok(self) -> bool:
        return self.max_abs <= ATOL and self.max_rel <= RTOL and self.roundtrip_exact

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _batch(entry, batch: int, seed: int) -> np.ndarray:
    h, w = entry.input_size
    return np.random.default_rng(seed).standard_normal((batch, entry.in_chans, h, w)).astype(np.float32)


def compare(model_a: Any, model_b: Any, *, batch: int = 2, seed: int = 0) -> tuple[float, float, float]:
    """Max |Δlogits| (absolute, relative to the largest |logit|) of two zoo models on one random batch."""
    entry = models.spec_of(model_a).entry
    x = _batch(entry, batch, seed)
    fa, fb = backends.framework_of(model_a), backends.framework_of(model_b)
    a = backends.get(fa).predict(model_a, to_layout(x, fa))
    b = backends.get(fb).predict(model_b, to_layout(x, fb))
    diff = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(a)))
    return diff, diff / max(scale, 1e-12), scale


def check_parity(name: str, source: str = "torch", target: str = "tf", *, input_size: int | tuple | None = None,
                 num_classes: int | None = None, seed: int = 0, through_disk: bool = True,
                 raise_on_failure: bool = True) -> ParityReport:
    """Build ``name`` in ``source`` with randomised weights, move the weights to ``target`` (through a saved
    checkpoint when ``through_disk``), compare the logits, and move them back to check the round trip is bit-exact.
    """
    src_backend, dst_backend = backends.get(source), backends.get(target)
    entry = models.spec_of(models.load(name, framework="torch", input_size=input_size,
                                       num_classes=num_classes)).entry
    tensors = realistic_weights(entry, seed, batch=_batch(entry, 2, seed))
    src = models.build(entry, source)
    src_backend.from_canonical(src, tensors)
    if through_disk:
        from .checkpoint import save

        with tempfile.TemporaryDirectory() as tmp:
            save(src, Path(tmp) / "ckpt")
            dst = models.load(str(Path(tmp) / "ckpt"), framework=target)
    else:
        dst = models.build(entry, target)
        dst_backend.from_canonical(dst, src_backend.to_canonical(src))
    max_abs, max_rel, scale = compare(src, dst, seed=seed)
    back = models.build(models.spec_of(src).entry, source)
    src_backend.from_canonical(back, dst_backend.to_canonical(dst))
    again = src_backend.to_canonical(back)
    exact = set(again) == set(tensors) and all(
        again[k].dtype == tensors[k].dtype and np.array_equal(again[k], tensors[k]) for k in tensors
    )
    report = ParityReport(name, source, target, max_abs, max_rel, scale, exact, len(tensors))
    if raise_on_failure and not report.ok:
        raise AssertionError(
            f"{name} {source}->{target}: max |Δlogits| {max_abs:.3g} (limit {ATOL}), relative {max_rel:.3g} "
            f"(limit {RTOL}) at logits up to {scale:.3g}; bit-exact round trip: {exact}"
        )
    return report


def check_stage_patterns(name: str, framework: str = "torch") -> None:
    """Every canonical tensor belongs to exactly one stage."""
    from fnmatch import fnmatchcase

    model = models.load(name, framework=framework)
    arch = models.get_architecture(models.spec_of(model).entry)
    for key in backends.get(framework).to_canonical(model):
        owners = [s for s, pats in arch.stage_patterns.items() if any(fnmatchcase(key, p) for p in pats)]
        if len(owners) != 1:
            raise AssertionError(f"{name}: tensor {key!r} belongs to {len(owners)} stages {owners}; expected one")
