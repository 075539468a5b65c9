"""Exact speed settings chosen for the user (issue #19): the decision rule, its on-disk cache, the report line.

Framework-free. The trial itself is the trainer's (``Trainer.tuning_trial`` of ``torch_loop`` / ``keras_loop``,
reached through the loop's dispatch table, with the per-framework code in ``torch_tuning`` / ``keras_tuning``):
a few interleaved, timed training steps of each candidate on copies (or restored state) of the user's model,
optimizer and batch size, plus a float32 check of each candidate's logits/loss against the default's. A
candidate is chosen only when it passed that check and was at least :data:`MARGIN` faster; mixed precision is
timed for advice only, never switched on. The decision is cached under ``cache_dir()/tuning``, keyed by
everything it depends on (:func:`cache_key`), so later runs of the same setup skip the trial.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from typing import Any

from ..errors import ZooError
from ..fileio import cache_dir, write_json

log = logging.getLogger("zoo.training.tuning")
TUNE_MODES = ("auto", "off")
MARGIN = 1.03  # a candidate must be >= 3 % faster than the default, so timing noise does not flip choices
EXACT_RTOL = 1e-4  # float32 logits of a candidate within this of the default's (relative to their largest value)
CACHE_FORMAT = 1  # bump when the trial or the decision rule changes: older cached decisions are then ignored
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


def choose(seconds: dict[str, float], exact: dict[str, bool], margin: float = MARGIN) -> str:
    """The fastest candidate that passed the float32 check and beats the default by ``margin``; else the default."""
    base = seconds[DEFAULT]
    fair = [c for c in seconds if c != DEFAULT and exact.get(c) and base / seconds[c] >= margin]
    return min(fair, key=seconds.__getitem__) if fair else DEFAULT


def decide(trial: dict[str, Any], candidates: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The decision from a trial's ``seconds`` / ``exact`` per candidate: the chosen name, its settings, speed-up."""
    chosen = choose(trial["seconds"], trial["exact"])
    return {"chosen": chosen, "settings": dict(candidates[chosen]),
            "speedup": trial["seconds"][DEFAULT] / trial["seconds"][chosen]}


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
    if len(candidates) > 1:
        decision.update(decide(trial, candidates))
    decision["trial"] = {k: trial[k] for k in ("seconds", "exact", "deviation", "steps")}
    decision["advice"] = trial.get("advice", {})
    decision["trial_s"] = time.perf_counter() - t0
    decision["notes"] = list(trainer.tuning_notes()) if hasattr(trainer, "tuning_notes") else []
    save_cached(key, decision)
    decision["cache_file"] = str(cache_file(key))
    return decision


def trial_advice(trainer: Any) -> bool:
    """Whether the trainer times mixed precision for advice even with a single candidate."""
    return bool(getattr(trainer, "times_advice", False))


def report_line(decision: dict[str, Any]) -> str:
    """One line for the run's log: what was chosen, how it was decided, and the mixed-precision advice."""
    if decision["source"] == "off":
        return "tune: off (the framework's default settings)"
    if decision["source"] in ("unsupported", "skipped"):
        return f"tune: default settings ({decision.get('reason', 'not supported here')})"
    chosen, trial = decision["chosen"], decision.get("trial")
    how = ("cached, " if decision["source"] == "cache" else "") + (
        f"{decision.get('trial_s', 0):.1f} s trial" if trial else "nothing to time")
    if chosen != DEFAULT:
        text = f"tune: {chosen} ({decision['speedup']:.2f}x the default's speed, float32-exact; {how})"
    else:
        others = [f"{c} {trial['seconds'][DEFAULT] / s:.2f}x{'' if trial['exact'].get(c) else ' not exact'}"
                  for c, s in trial["seconds"].items() if c not in (DEFAULT, *ADVICE_ONLY)] if trial else []
        text = f"tune: default settings ({how}{'; ' + ', '.join(others) if others else ''})"
    for name, advice in (decision.get("advice") or {}).items():
        if not advice.get("native"):
            continue
        gain = advice.get("speedup")
        text += (f"; {name} mixed precision is native here"
                 + (f" and timed {gain:.2f}x" if gain else "") + f" (opt in: --mixed-precision {name})")
    return text


def summary(decision: dict[str, Any]) -> dict[str, Any]:
    """The decision without its trial details: what a run's train_args.json and the benchmark rows keep."""
    keep = ("mode", "source", "chosen", "settings", "speedup", "advice", "reason", "notes")
    return {k: decision[k] for k in keep if k in decision}


def env_identity() -> dict[str, Any]:
    """What every decision depends on besides the model and the framework: the machine."""
    return {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count()}
