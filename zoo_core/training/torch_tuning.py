"""The PyTorch tuning trial: channels_last vs the default memory format timed in paired rounds on copies of the
user's model and optimizer, the optimizer's fused implementation timed in paired optimizer steps, a float32
check of each against the default, and bf16 autocast timed for advice only.

Left out on purpose: ``torch.compile`` (tens of seconds of compile on a 2-core CPU, more than short fine-tuning
runs gain back, and recompiles on the last partial batch), oneDNN graph fusion (TorchScript inference only,
not an eager training step) and oneDNN switched off (1.6-3x slower training steps on a 2-core AVX-512 CPU,
``benchmarks/torch_cpu_candidates.py``). Imported with torch by ``torch_loop``.
"""

from __future__ import annotations

import copy
import inspect
import statistics
import time
from typing import Any

from ..frameworks import import_torch
from .tuning import DEFAULT, EXACT_RTOL, MIN_PAIRS, env_identity, paired_ratios, verdict

torch = import_torch()
WARMUP_STEPS = 1  # per candidate, untimed: first-call kernel selection, allocator growth
MIN_ROUNDS = MIN_PAIRS  # paired rounds (one step per candidate each, alternating order): never fewer ...
MAX_ROUNDS = 10  # ... nor more; in between, rounds go on while a verdict is ambiguous and within the budget
BUDGET_S = 10.0  # seconds of timed rounds per candidate; past MIN_ROUNDS, ambiguous verdicts get more rounds within it
ADVICE_ROUNDS = 2  # bf16 (advice only) is timed in this many rounds
OPT_ROUNDS = 10  # paired optimizer steps timing the fused optimizer (milliseconds each)


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


def fresh_optimizer(opt: Any, params: list[Any], **overrides: Any) -> Any:
    """A new optimizer of ``opt``'s class and settings over ``params`` (no state: the user's stays untouched)."""
    accepted = inspect.signature(type(opt).__init__).parameters
    settings = {k: v for k, v in {**opt.defaults, **overrides}.items() if k in accepted}
    if settings.get("fused"):
        settings["foreach"] = None
    return type(opt)(params, **settings)


def fused_supported(opt: Any, device: Any, amp_dtype: Any) -> bool:
    """Whether ``opt`` has a fused implementation worth timing here: Adam, AdamW or SGD (``fused`` in their
    signature) on a CPU or CUDA device, without float16 loss scaling."""
    return ("fused" in inspect.signature(type(opt).__init__).parameters and torch.device(device).type in ("cpu", "cuda")
            and amp_dtype is not torch.float16)


def set_fused(opt: Any) -> None:
    """Switch ``opt`` to its fused implementation in place (the state is shared: the same math, one kernel)."""
    opt.defaults["fused"], opt.defaults["foreach"] = True, None
    for group in opt.param_groups:
        group["fused"], group["foreach"] = True, None


def _sync(device: Any) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _times_bf16(device: Any, amp_dtype: Any) -> bool:
    return amp_dtype is None and bf16_native(device)


def trial_steps(cands: dict[str, dict[str, Any]], device: Any, amp_dtype: Any) -> int:
    """Training steps a trial takes at least (all candidates, warm-up included): the run must be at least this
    long. The bf16 advice steps are not counted: they are extra information, not what the decision costs."""
    return len(cands) * (WARMUP_STEPS + MIN_ROUNDS)  # bf16, timed alongside for advice only, is not counted


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


def _fused_trial(side: _Side, opt: Any, device: Any) -> tuple[bool, float, dict[str, Any]]:
    """The fused optimizer (``fused=True``: one kernel over every parameter instead of torch's default foreach
    path) against the default on copies of ``side``'s parameters and gradients: one step from the same state for
    the float32 check (max |a - b| / max |a| over the tensors), then :data:`OPT_ROUNDS` interleaved optimizer steps
    (ms each: cheap to pair many times). Exact, the deviation, and the per-round times."""
    params = [p for p in side.model.parameters() if p.requires_grad and p.grad is not None]
    copies = {}
    for name in ("base", "cand"):
        ps = [p.detach().clone().requires_grad_() for p in params]
        for q, p in zip(ps, params, strict=True):
            q.grad = p.grad.detach().clone()
        extra = {"fused": True} if name == "cand" else {}
        copies[name] = (ps, fresh_optimizer(opt, ps, **extra))
    for _, o in copies.values():
        o.step()
    with torch.no_grad():
        dev = max((deviation(a, b) for a, b in zip(copies["base"][0], copies["cand"][0], strict=True)), default=0.0)
    times: dict[str, list[float]] = {"base": [], "cand": []}
    for r in range(OPT_ROUNDS):
        for name in (("base", "cand") if r % 2 == 0 else ("cand", "base")):
            _sync(device)
            t0 = time.perf_counter()
            copies[name][1].step()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return dev <= EXACT_RTOL, dev, times


def trial(model: Any, opt: Any, loss_fn: Any, input_shape: tuple[int, ...], num_classes: int, device: Any,
          amp_dtype: Any, cands: dict[str, dict[str, Any]], advice: bool = True,
          fused: bool = False) -> dict[str, Any]:
    """Time each candidate on its own copy (the user's model, optimizer and torch's RNG are left as they were):
    ``WARMUP_STEPS`` untimed, then paired rounds, one training step of each candidate per round in alternating
    order (default first, then last, ...), :data:`MIN_ROUNDS` to :data:`MAX_ROUNDS` of them: past the minimum,
    rounds go on while some candidate's verdict (``tuning.verdict`` on its per-round ratios to the default) is
    still ambiguous and the trial is within ``BUDGET_S`` per candidate. Exact: the candidate's float32 logits on a
    fixed random batch within ``EXACT_RTOL`` of the default's. With ``advice`` and a device with native bf16,
    bf16 autocast is timed on the best memory format too, in the first :data:`ADVICE_ROUNDS` rounds (never
    chosen). With ``fused``, the fused optimizer is checked and timed on its own (``separate``)."""
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
        for name in timed:  # warm-up: first-call kernel selection, allocator growth
            for _ in range(WARMUP_STEPS):
                timed[name].step(x, y, loss_fn, device)
        t0 = time.perf_counter()
        budget = BUDGET_S * len(sides)
        r = 0
        while r < MAX_ROUNDS:
            names = [n for n in timed if n != "bf16" or r < ADVICE_ROUNDS]
            for name in (names if r % 2 == 0 else list(reversed(names))):
                times[name].append(timed[name].step(x, y, loss_fn, device))
            r += 1
            if r >= MIN_ROUNDS and (time.perf_counter() - t0 > budget or all(
                    verdict(paired_ratios(times[DEFAULT], times[n]))["verdict"] != "ambiguous"
                    for n in sides if n != DEFAULT)):
                break
        separate = {}
        if fused:
            ok, dev["fused"], opt_times = _fused_trial(sides[DEFAULT], opt, device)
            exact["fused"] = ok
            separate["fused"] = {**opt_times, "settings": {"fused_optimizer": True}, "what": "optimizer step"}
    seconds = {name: statistics.median(times[name]) for name in sides}
    out = {"seconds": seconds, "times": {n: times[n] for n in sides}, "separate": separate, "exact": exact,
           "deviation": dev, "steps": WARMUP_STEPS + r, "rounds": r,
           "advice": {"bf16": {"native": native, "speedup": None}}}
    if times.get("bf16"):  # paired with the default's steps of the same rounds
        best = max((n for n in sides if exact[n]), key=lambda n: statistics.median(
            paired_ratios(times[DEFAULT], times[n])) if n != DEFAULT else 1.0)
        k = len(times["bf16"])
        out["advice"]["bf16"]["speedup"] = statistics.median(paired_ratios(times[best][:k], times["bf16"]))
    return out
