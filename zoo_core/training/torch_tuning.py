"""The PyTorch tuning trial: channels_last vs the default memory format timed on copies of the user's model and
optimizer, a float32 check of each against the default, and bf16 autocast timed for advice only.

Left out on purpose: ``torch.compile`` (tens of seconds of compile on a 2-core CPU, more than short fine-tuning
runs gain back, and recompiles on the last partial batch) and oneDNN graph fusion (TorchScript inference only,
not an eager training step). Imported with torch by ``torch_loop``.
"""

from __future__ import annotations

import copy
import inspect
import time
from typing import Any

from ..frameworks import import_torch
from .tuning import DEFAULT, EXACT_RTOL, env_identity

torch = import_torch()
WARMUP_STEPS = 1  # per candidate, untimed: first-call kernel selection, allocator growth
TIMED_ROUNDS = 3  # per candidate, one step each, interleaved: default, channels_last, (bf16), default, ...
BUDGET_S = 20.0  # timed rounds beyond the first are cut to fit this many seconds (a slow model or a busy machine)
MIN_TIMED_ROUNDS = 2  # ... but never below this: the fastest of two steps is far less noisy than one on a busy machine


def identity(device: Any, amp_dtype: Any) -> dict[str, Any]:
    """The device and versions a decision depends on."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else torch.backends.cpu.get_cpu_capability()
    return {"framework": "torch", "torch": torch.__version__, "device": str(dev), "device_name": name,
            "threads": torch.get_num_threads(), "amp": str(amp_dtype), **env_identity()}


def candidates(input_ndim: int) -> dict[str, dict[str, Any]]:
    """name -> settings; channels_last only for image (4-D) inputs."""
    out: dict[str, dict[str, Any]] = {DEFAULT: {}}
    if input_ndim == 4:
        out["channels_last"] = {"channels_last": True}
    return out


def bf16_native(device: Any) -> bool:
    """Whether the device computes bfloat16 in hardware (AVX512-BF16 / AMX on a CPU, Ampere or newer on CUDA)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        cpu = torch.cpu
        return bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                    or getattr(cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def fresh_optimizer(opt: Any, params: list[Any]) -> Any:
    """A new optimizer of ``opt``'s class and settings over ``params`` (no state: the user's stays untouched)."""
    accepted = inspect.signature(type(opt).__init__).parameters
    return type(opt)(params, **{k: v for k, v in opt.defaults.items() if k in accepted})


def _sync(device: Any) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _times_bf16(device: Any, amp_dtype: Any) -> bool:
    return amp_dtype is None and bf16_native(device)


def trial_steps(cands: dict[str, dict[str, Any]], device: Any, amp_dtype: Any) -> int:
    """Training steps a trial takes (all candidates, warm-up included): the run must be at least this long."""
    return (len(cands) + _times_bf16(device, amp_dtype)) * (WARMUP_STEPS + TIMED_ROUNDS)


class _Side:
    """One candidate's own copy of the model and a fresh optimizer of the user's kind."""

    def __init__(self, model: Any, opt: Any, settings: dict[str, Any], amp_dtype: Any):
        self.model = copy.deepcopy(model).train()
        self.fmt = torch.channels_last if settings.get("channels_last") else torch.contiguous_format
        self.model.to(memory_format=self.fmt)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = fresh_optimizer(opt, params)
        self.amp = amp_dtype

    def logits(self, x: Any) -> Any:
        """Float32 logits in training mode (no autocast): what the exactness check compares."""
        return self.model(x.contiguous(memory_format=self.fmt)).float()

    def step(self, x: Any, y: Any, loss_fn: Any, device: Any) -> float:
        """Seconds of one training step (forward, loss, backward, optimizer step)."""
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=self.amp, enabled=self.amp is not None):
            logits = self.model(x.contiguous(memory_format=self.fmt))
            loss = loss_fn(logits.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        _sync(device)
        return time.perf_counter() - t0


def deviation(a: Any, b: Any) -> float:
    """max |a - b| relative to the largest |a| (float32 logits of two settings on the same batch)."""
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))


def trial(model: Any, opt: Any, loss_fn: Any, input_shape: tuple[int, ...], num_classes: int, device: Any,
          amp_dtype: Any, cands: dict[str, dict[str, Any]], advice: bool = True) -> dict[str, Any]:
    """Time each candidate on its own copy (the user's model, optimizer and torch's RNG are left as they were):
    ``WARMUP_STEPS`` untimed, then ``TIMED_ROUNDS`` interleaved steps (at least ``MIN_TIMED_ROUNDS`` within
    ``BUDGET_S``); the fastest step per candidate. Exact: the
    candidate's float32 logits on a fixed random batch within ``EXACT_RTOL`` of the default's. With ``advice``
    and a device with native bf16, bf16 autocast is timed on the best memory format too (never chosen)."""
    with torch.random.fork_rng(devices=[torch.device(device)] if torch.device(device).type == "cuda" else []):
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(input_shape, generator=gen).to(device)
        y = torch.randint(num_classes, (input_shape[0],), generator=gen).to(device)
        sides = {name: _Side(model, opt, settings, amp_dtype) for name, settings in cands.items()}
        dev: dict[str, float] = {}
        torch.manual_seed(0)
        ref = sides[DEFAULT].logits(x).detach()
        for name, side in sides.items():
            torch.manual_seed(0)  # the same dropout masks
            dev[name] = deviation(ref, side.logits(x).detach())
        exact = {name: dev[name] <= EXACT_RTOL for name in sides}
        native = bf16_native(device)
        timed = dict(sides)
        if advice and _times_bf16(device, amp_dtype):
            best_fmt = cands.get("channels_last", {})
            timed["bf16"] = _Side(model, opt, best_fmt, torch.bfloat16)
        times: dict[str, list[float]] = {name: [] for name in timed}
        rounds = WARMUP_STEPS + TIMED_ROUNDS
        r = 0
        while r < rounds:
            order = list(timed) if r % 2 == 0 else list(reversed(timed))
            t0 = time.perf_counter()
            for name in order:
                seconds = timed[name].step(x, y, loss_fn, device)
                if r >= WARMUP_STEPS:
                    times[name].append(seconds)
            if r == WARMUP_STEPS:  # a slow (busy) device: fewer rounds, so the trial stays within its budget
                rounds = min(rounds, r + max(MIN_TIMED_ROUNDS, int(BUDGET_S / max(time.perf_counter() - t0, 1e-9))))
            r += 1
    # the fastest timed step of each: other tenants of a shared machine only ever add time to a step
    med = {name: min(v) for name, v in times.items()}
    seconds = {name: med[name] for name in sides}
    out = {"seconds": seconds, "exact": exact, "deviation": dev, "steps": rounds,
           "advice": {"bf16": {"native": native, "speedup": None}}}
    if "bf16" in med:
        fastest_exact = min((s for n, s in seconds.items() if exact[n]), default=seconds[DEFAULT])
        out["advice"]["bf16"]["speedup"] = fastest_exact / med["bf16"]
    return out
