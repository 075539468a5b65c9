"""Run a whole benchmark: start-up, then each (model, batch, framework) in its own fresh worker process, then the
report. Results are written after every task, so an interrupted run keeps what it measured."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..frameworks import is_installed
from . import overhead, report, startup
from .common import BenchConfig, BenchError, machine, run_task


def _task(cfg: BenchConfig, model: str, framework: str, batch: int) -> dict[str, Any]:
    return {"kind": "model", "model": model, "framework": framework, "batch": batch, "data": cfg.data,
            "limit": cfg.limit, "input_size": cfg.input_size, "epochs": cfg.epochs, "warmup": cfg.warmup,
            "rounds": cfg.rounds, "overhead": cfg.overhead, "latency_reps": cfg.latency_reps, "lr": cfg.lr,
            "seed": cfg.seed, "threads": cfg.threads, "tune": cfg.tune}


def _summary(row: dict[str, Any]) -> str:
    t, i = row["train"], row["inference"]
    text = (f"{t['seconds_per_epoch']:.2f} s/epoch ({t['images_per_second']:.0f} img/s train, "
            f"{i['images_per_second']:.0f} img/s inference, peak RSS {t['peak_rss_mb']:.0f} MiB)")
    if "overhead" in row:
        o = row["overhead"]
        text += f"; plain/zoo ratio train {o['train_ratio']:.3f}, inference {o['inference_ratio']:.3f}"
    if "tuning" in t:
        text += f"; tuned: {t['tuning']['chosen']} ({t['tuning']['source']})"
    return text


def run(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    cfg.check()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "config": cfg.as_dict(),
                               "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                               "startup": None, "flops": {}, "runs": [], "errors": []}
    log(f"start-up: import zoo_core, zoo list ({cfg.startup_repeats} fresh processes each)")
    try:
        results["startup"] = startup.measure(cfg.startup_repeats)
    except BenchError as exc:
        results["errors"].append({"task": "startup", "error": str(exc)})
        log(f"  failed: {exc}")
    tasks = [(m, b, fw) for m in cfg.models for b in cfg.batches for fw in cfg.frameworks]
    peak_measured: set[str] = set()  # the matmul peak is the device's: measured in one worker per framework
    for k, (model, batch, fw) in enumerate(tasks, 1):
        # FLOPs are counted on the PyTorch model: inside the first torch worker of the model when torch is
        # benchmarked, else in a process of their own
        count_here = fw == "torch" and model not in results["flops"]
        if model not in results["flops"] and "torch" not in cfg.frameworks and is_installed("torch"):
            try:
                results["flops"][model] = run_task({"kind": "flops", "model": model, "input_size": cfg.input_size},
                                                   cfg.timeout)
            except BenchError as exc:
                results["flops"][model] = None
                results["errors"].append({"task": f"flops {model}", "error": str(exc)})
        log(f"[{k}/{len(tasks)}] {model} {fw} batch {batch}")
        try:
            task = {**_task(cfg, model, fw, batch), "matmul": fw not in peak_measured, "flops": count_here}
            t0 = time.perf_counter()
            row = {"model": model, "framework": fw, "batch": batch, **run_task(task, cfg.timeout),
                   "wall_s": time.perf_counter() - t0}
            if "flops" in row:
                results["flops"][model] = row.pop("flops")
        except BenchError as exc:
            results["errors"].append({"task": f"{model} {fw} batch {batch}", "error": str(exc)})
            log(f"  failed: {exc}")
            continue
        results["runs"].append(row)
        if "matmul" in row:
            peak_measured.add(fw)
        if results["startup"] is not None:
            results["startup"]["load"] = startup.load_times(results["runs"])
        log(f"  {_summary(row)}")
        report.write_json(results, out)
    results["wall_s"] = time.perf_counter() - t_start
    results["machine"]["load_average_at_end"] = machine()["load_average_at_start"]
    results["overhead_pooled"] = overhead.pooled(results)
    report.write(results, out)
    log(f"wrote {out / report.JSON_NAME}, {out / report.MD_NAME}, {out / report.PNG_NAME} "
        f"in {results['wall_s']:.0f} s")
    return results
