"""Start-up costs in fresh processes (medians): ``import zoo_core`` and ``zoo list``, which must stay within
:data:`LIMIT_S` wall and import no framework, and ``zoo.load(name)`` per framework, timed inside the fresh worker
process of each (model, framework, batch) measurement (:func:`load_times`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from .common import BenchError, child_env, median

LIMIT_S = 0.3
FRAMEWORK_MODULES = ("torch", "tensorflow", "keras", "jax")

_IMPORT = """
import sys, time, json
t0 = time.perf_counter()
import zoo_core
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "frameworks": [m for m in FRAMEWORKS if m in sys.modules]}))
""".replace("FRAMEWORKS", repr(FRAMEWORK_MODULES))

_LIST = """
import sys, time, json, io, contextlib
t0 = time.perf_counter()
from zoo_core.cli.app import main
with contextlib.redirect_stdout(io.StringIO()) as buf:
    code = main(["list"])
t = time.perf_counter() - t0
print(json.dumps({"seconds": t, "code": code, "lines": len(buf.getvalue().splitlines()),
                  "frameworks": [m for m in FRAMEWORKS if m in sys.modules]}))
""".replace("FRAMEWORKS", repr(FRAMEWORK_MODULES))

def _run(code: str, timeout: float = 300) -> tuple[float, dict[str, Any]]:
    """(process wall seconds incl. interpreter start, the JSON the child printed last)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(),
                          timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
        raise BenchError(f"start-up measurement failed (exit {proc.returncode}):\n{tail}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def _series(code: str, repeats: int) -> dict[str, Any]:
    walls, inner, last = [], [], {}
    for _ in range(repeats):
        wall, last = _run(code)
        walls.append(wall)
        inner.append(last["seconds"])
    return {"wall_s": median(walls), "in_process_s": median(inner), "walls": walls,
            "frameworks_imported": last.get("frameworks", [])}


def python_baseline(repeats: int) -> float:
    """Median wall of ``python -c pass``: the interpreter's own start, included in every wall time here."""
    return median([_run("import json; print(json.dumps({'seconds': 0}))")[0] for _ in range(repeats)])


def measure(repeats: int = 3) -> dict[str, Any]:
    """Medians over ``repeats`` fresh processes each; ``checks`` says whether import/list met the limit."""
    out: dict[str, Any] = {"python_s": python_baseline(repeats), "limit_s": LIMIT_S}
    out["import_zoo_core"] = _series(_IMPORT, repeats)
    out["zoo_list"] = _series(_LIST, repeats)
    out["checks"] = {
        key: {"wall_s": out[key]["wall_s"], "ok": out[key]["wall_s"] <= LIMIT_S
              and not out[key]["frameworks_imported"], "frameworks_imported": out[key]["frameworks_imported"]}
        for key in ("import_zoo_core", "zoo_list")
    }
    return out


def load_times(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """``zoo.load(name)`` per (model, framework) from the worker processes, each a fresh interpreter that had not
    imported its framework: wall = process start to model built (the benchmark data's loading subtracted),
    in-process = framework import + build. Medians over the batch sizes' workers."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(f"{r['model']}/{r['framework']}", []).append(r["startup"])
    return {key: {"wall_s": median([s["load_wall_s"] for s in group]) if all("load_wall_s" in s for s in group)
                  else None,
                  "in_process_s": median([s["import_s"] + s["build_s"] for s in group]),
                  "walls": [s.get("load_wall_s") for s in group], "frameworks_imported": []}
            for key, group in groups.items()}
