"""Exact speed settings chosen for the user (issue #19): the decision rule, its on-disk cache, the report line.

Framework-free. The trial itself is the trainer's (``Trainer.tuning_trial`` of ``torch_loop`` / ``keras_loop``,
reached through the loop's dispatch table, with the per-framework code in ``torch_tuning`` / ``keras_tuning``):
paired rounds of timed training steps (one step of each candidate per round, the order alternating) on copies
(or restored state) of the user's model, optimizer and batch size, plus a float32 check of each candidate's
logits/loss against the default's. Each candidate's per-round ratios to the default (paired: the machine's
load moves both steps of a round alike) go through :func:`verdict`: it is chosen only when it passed the check
and its median ratio clears :data:`MARGIN` in at least :data:`CONSISTENT` of the pairs; ambiguous evidence keeps
the default. Mixed precision is timed for advice only, never switched on. The decision is cached under
``cache_dir()/tuning``, keyed by everything it depends on (:func:`cache_key`), so later runs of the same setup
skip the trial.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import statistics
import time
from typing import Any

from ..errors import ZooError
from ..fileio import cache_dir, write_json

log = logging.getLogger("zoo.training.tuning")
TUNE_MODES = ("auto", "off")
MARGIN = 1.03  # a candidate's median paired ratio must be >= 3 % above the default's ...
CONSISTENT = 0.75  # ... with at least this share of the pairs faster (3 of 4), else the evidence is ambiguous
MIN_PAIRS = 4  # no verdict on fewer paired rounds
EXACT_RTOL = 1e-4  # float32 logits of a candidate within this of the default's (relative to their largest value)
CACHE_FORMAT = 2  # bump when the trial or the decision rule changes: older cached decisions are then ignored
DEFAULT = "default"
ADVICE_ONLY = ("bf16",)  # timed in the trial for advice, never chosen


def check_mode(mode: Any) -> str:
    """``mode`` when it is one of :data:`TUNE_MODES`, else a one-line ZooError."""
    if mode not in TUNE_MODES:
        raise ZooError(f"tune must be one of {', '.join(TUNE_MODES)}, got {mode!r}; pass --tune auto (time exact "
                       "speed settings on the first run, cached) or --tune off (the framework's defaults)")
    return mode


def cpu_name() -> str:
    """The CPU model, so a decision cached on one machine is not reused on another sharing the cache folder."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux); empty elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cache_key(identity: dict[str, Any]) -> str:
    """A stable name for everything a decision depends on (model config, batch, device, versions, ...)."""
    text = json.dumps({"format": CACHE_FORMAT, **identity}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_file(key: str):
    return cache_dir() / "tuning" / f"{key}.json"


def load_cached(key: str) -> dict[str, Any] | None:
    """The decision cached under ``key``; None when there is none or it cannot be read (then a new trial runs)."""
    path = cache_file(key)
    try:
        decision = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the unreadable tuning cache %s (%s); timing again", path, exc)
        return None
    return decision if isinstance(decision, dict) and decision.get("key") == key else None


def save_cached(key: str, decision: dict[str, Any]) -> None:
    path = cache_file(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, decision)
    except OSError as exc:  # a read-only cache costs a trial per run, never the run
        log.warning("could not cache the tuning decision in %s (%s)", path, exc)


def paired_ratios(base: list[float], cand: list[float]) -> list[float]:
    """Per round, the default's step time over the candidate's (timed back to back): > 1 means the candidate was
    faster in that round. Pairing cancels the machine's load, which moves both steps of a round alike."""
    return [b / c for b, c in zip(base, cand, strict=True)]


def verdict(ratios: list[float], margin: float = MARGIN) -> dict[str, Any]:
    """The rule on one candidate's per-pair ratios (default time / candidate time per round):

    - ``"faster"``: the median ratio is at least ``margin`` and at least :data:`CONSISTENT` of the pairs (3 of 4,
      4 of 5, ...) show the candidate faster, so one or two lucky rounds on a busy machine cannot carry it;
    - ``"slower"``: the mirror image (median at most 1 / ``margin``, that share of pairs slower);
    - ``"ambiguous"``: anything else, or fewer than :data:`MIN_PAIRS` pairs. Only "faster" switches a setting on.

    Also the median, the spread ((p75 - p25) / median) and how many pairs were faster, for the report."""
    n = len(ratios)
    if n == 0:
        return {"verdict": "ambiguous", "median": None, "spread": None, "pairs": 0, "faster_pairs": 0,
                "ratios": []}
    # p25, median, p75 interpolated linearly between order statistics
    p25, med, p75 = statistics.quantiles(ratios, n=4, method="inclusive") if n > 1 else ratios * 3
    faster = sum(r > 1.0 for r in ratios)
    need = math.ceil(CONSISTENT * n)
    if n >= MIN_PAIRS and med >= margin and faster >= need:
        call = "faster"
    elif n >= MIN_PAIRS and med <= 1 / margin and n - faster >= need:
        call = "slower"
    else:
        call = "ambiguous"
    return {"verdict": call, "median": med, "spread": (p75 - p25) / med, "pairs": n, "faster_pairs": faster,
            "ratios": [round(r, 4) for r in ratios]}


def choose(verdicts: dict[str, dict[str, Any]], exact: dict[str, bool]) -> str:
    """The candidate with the largest median ratio among those that passed the float32 check and whose verdict
    is "faster"; the default when there is none (ambiguous evidence keeps the default)."""
    fair = [c for c, v in verdicts.items() if c != DEFAULT and exact.get(c) and v["verdict"] == "faster"]
    return max(fair, key=lambda c: verdicts[c]["median"]) if fair else DEFAULT


def decide(trial: dict[str, Any], candidates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The decision from a trial's per-round ``times`` (each candidate's steps, round by round, paired with the
    default's of the same round) and ``exact``: the verdict per candidate, the chosen name, its settings and its
    median paired speed-up. Settings a trial timed on their own (``separate``: e.g. the fused optimizer, timed
    as optimizer steps) are added when their own verdict is "faster" and they are exact."""
    times = trial["times"]
    verdicts = {c: verdict(paired_ratios(times[DEFAULT], times[c])) for c in times if c != DEFAULT}
    chosen = choose(verdicts, trial["exact"])
    settings = dict(candidates[chosen])
    names = [] if chosen == DEFAULT else [chosen]
    for name, part in (trial.get("separate") or {}).items():
        v = verdicts[name] = {**verdict(paired_ratios(part["base"], part["cand"])), "what": part.get("what")}
        if v["verdict"] == "faster" and trial["exact"].get(name):
            settings.update(part["settings"])
            names.append(name)
    return {"chosen": "+".join(names) or DEFAULT, "settings": settings,
            "speedup": verdicts[chosen]["median"] if chosen != DEFAULT else 1.0, "verdicts": verdicts}


def tune(trainer: Any, mode: str, identity: dict[str, Any], run_steps: int) -> dict[str, Any]:
    """Choose (or read from the cache) the trainer's exact speed settings, apply them, log one line; the decision.

    ``trainer`` provides ``tuning_identity()`` (device, versions: added to ``identity``), ``tuning_candidates()``
    (name -> settings, the default first), ``tuning_trial(candidates)`` (seconds, exact, deviation, advice) and
    ``apply_tuning(settings)``; a trainer without them (or distributed) trains with the defaults. A run of
    ``run_steps`` training steps, fewer than the trial would take, trains with the defaults unless a decision is
    cached (the trial would cost more than it can gain)."""
    if mode == "off":
        decision = {"mode": "off", "source": "off", "chosen": DEFAULT, "settings": {}}
    elif not hasattr(trainer, "tuning_trial") or getattr(trainer, "dist", None) is not None:
        decision = {"mode": mode, "source": "unsupported", "chosen": DEFAULT, "settings": {},
                    "reason": "distributed runs train with the defaults"}
    else:
        identity = {**identity, **trainer.tuning_identity()}
        key = cache_key(identity)
        decision = load_cached(key)
        if decision is not None:
            decision = {**decision, "source": "cache"}
        else:
            decision = _trial(trainer, mode, key, identity, run_steps)
    if hasattr(trainer, "apply_tuning"):
        trainer.apply_tuning(decision["settings"])
    log.info("%s", report_line(decision))
    return decision


def _trial(trainer: Any, mode: str, key: str, identity: dict[str, Any], run_steps: int) -> dict[str, Any]:
    """Run the trainer's trial (when it pays) and cache the decision."""
    candidates = trainer.tuning_candidates()
    decision: dict[str, Any] = {"mode": mode, "key": key, "identity": identity, "source": "trial",
                                "candidates": list(candidates), "chosen": DEFAULT, "settings": {}, "speedup": 1.0}
    if len(candidates) == 1 and not trial_advice(trainer):
        decision["notes"] = list(trainer.tuning_notes()) if hasattr(trainer, "tuning_notes") else []
        decision["advice"] = trainer.tuning_advice() if hasattr(trainer, "tuning_advice") else {}
        save_cached(key, decision)
        return decision
    trial_steps = trainer.tuning_trial_steps(candidates)
    if run_steps < trial_steps:
        return {**decision, "source": "skipped",
                "reason": f"the run's {run_steps} steps are fewer than a trial's {trial_steps}"}
    t0 = time.perf_counter()
    trial = trainer.tuning_trial(candidates)
    if len(candidates) > 1 or trial.get("separate"):
        decision.update(decide(trial, candidates))
    decision["trial"] = {k: trial[k] for k in ("seconds", "times", "separate", "exact", "deviation", "steps")
                         if k in trial}
    decision["advice"] = trial.get("advice", {})
    decision["trial_s"] = time.perf_counter() - t0
    decision["notes"] = list(trainer.tuning_notes()) if hasattr(trainer, "tuning_notes") else []
    save_cached(key, decision)
    decision["cache_file"] = str(cache_file(key))
    return decision


def trial_advice(trainer: Any) -> bool:
    """Whether the trainer times mixed precision for advice even with a single candidate."""
    return bool(getattr(trainer, "times_advice", False))


def verdict_text(name: str, v: dict[str, Any], exact: bool = True) -> str:
    """``channels_last 1.24x faster (4/4 pairs)``: one candidate's median paired ratio and the rule's verdict."""
    if v.get("median") is None:
        return f"{name} not timed"
    what = f" per {v['what']}" if v.get("what") else ""
    return (f"{name} {v['median']:.2f}x{what} {v['verdict']} ({v['faster_pairs']}/{v['pairs']} pairs faster)"
            + ("" if exact else ", not exact"))


def report_line(decision: dict[str, Any]) -> str:
    """One line for the run's log: what was chosen, how it was decided (every candidate's median paired ratio
    and verdict), and the mixed-precision advice."""
    if decision["source"] == "off":
        return "tune: off (the framework's default settings)"
    if decision["source"] in ("unsupported", "skipped"):
        return f"tune: default settings ({decision.get('reason', 'not supported here')})"
    chosen, trial = decision["chosen"], decision.get("trial")
    how = ("cached, " if decision["source"] == "cache" else "") + (
        f"{decision.get('trial_s', 0):.1f} s trial" if trial or decision.get("verdicts") else "nothing to time")
    exact = (trial or {}).get("exact", {})
    timed = "; ".join(verdict_text(c, v, exact.get(c, True)) for c, v in (decision.get("verdicts") or {}).items())
    if chosen != DEFAULT:
        text = f"tune: {chosen} (float32-exact; {how}: {timed})"
    else:
        text = f"tune: default settings ({how}{': ' + timed if timed else ''})"
    for name, advice in (decision.get("advice") or {}).items():
        if not advice.get("native"):
            continue
        gain = advice.get("speedup")
        text += (f"; {name} mixed precision is native here"
                 + (f" and timed {gain:.2f}x" if gain else "") + f" (opt in: --mixed-precision {name})")
    return text


def summary(decision: dict[str, Any]) -> dict[str, Any]:
    """The decision without its trial details: what a run's train_args.json and the benchmark rows keep."""
    keep = ("mode", "source", "chosen", "settings", "speedup", "verdicts", "advice", "reason", "notes")
    return {k: decision[k] for k in keep if k in decision}


def env_identity() -> dict[str, Any]:
    """What every decision depends on besides the model and the framework: the machine."""
    return {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count()}
