"""What every measurement shares: the run's settings, statistics, memory, the machine, the data, subprocesses."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..data import BUILTINS, open_dataset
from ..errors import BenchError
from ..frameworks import canonical_framework
from ..models import get_entry
from ..training.tuning import check_mode, cpu_name
from . import photos

DEFAULT_LIMIT = 512


@dataclass
class BenchConfig:
    """Settings of one ``zoo bench`` run. ``input_size`` None keeps each model's registry size; ``limit`` is the
    number of images (training and inference use the same in-memory images)."""

    models: list[str]
    frameworks: list[str] = field(default_factory=lambda: ["torch", "tf"])
    batches: list[int] = field(default_factory=lambda: [32, 128])
    data: str = "mnist5k"
    limit: int = DEFAULT_LIMIT
    input_size: int | None = None
    epochs: int = 2  # measured training epochs, after `warmup` epochs
    warmup: int = 1
    rounds: int = 2  # interleaved inference rounds (3 zoo and 3 plain passes each); training alternates per epoch
    overhead: bool = True
    latency_reps: int = 20
    startup_repeats: int = 3
    threads: int | None = None  # CPU threads per framework (None: the framework's default, one per core)
    tune: str = "auto"  # the zoo side's --tune (the plain side always runs the framework's defaults)
    lr: float = 1e-3
    seed: int = 0
    timeout: float = 1800.0
    out: str = "bench"

    def check(self) -> BenchConfig:
        if not self.models:
            raise BenchError("name at least one model to benchmark, e.g. `zoo bench resnet18`")
        self.frameworks = list(dict.fromkeys(canonical_framework(f) for f in self.frameworks))
        if not self.batches or any(b < 1 for b in self.batches):
            raise BenchError(f"batch sizes must be positive integers, got {self.batches}")
        if self.epochs < 1 or self.warmup < 0 or self.rounds < 1 or self.latency_reps < 2:
            raise BenchError("need --epochs >= 1, --warmup >= 0, --rounds >= 1 and latency repeats >= 2")
        if self.limit < max(self.batches):
            raise BenchError(f"--limit {self.limit} images is smaller than the largest batch {max(self.batches)}; "
                             "raise --limit or lower --batch")
        if self.threads is not None and self.threads < 1:
            raise BenchError(f"--threads must be a positive number of CPU threads, got {self.threads}")
        if self.input_size is not None and self.input_size < 8:
            raise BenchError(f"--input-size {self.input_size} is too small; use 8 or more pixels")

        for name in self.models:
            get_entry(name)  # unknown names fail here, with suggestions, not in a worker process
        check_mode(self.tune)
        if self.data == photos.NAME:  # made in the output folder on the first run: real JPEGs, decoded per epoch
            self.data = str(photos.make_folder(Path(self.out) / photos.NAME, self.limit, self.seed))
        if self.data.removeprefix("builtin:") not in BUILTINS and not Path(self.data).is_dir():
            raise BenchError(f"--data {self.data!r} is neither a built-in dataset ({', '.join(sorted(BUILTINS))}), "
                             f"{photos.NAME!r} (a JPEG folder made for the benchmark) nor an image folder")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------------- statistics


def median(values: list[float]) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    m = len(v) // 2
    return v[m] if len(v) % 2 else 0.5 * (v[m - 1] + v[m])


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, ``q`` in [0, 100]."""
    v = sorted(values)
    if not v:
        return float("nan")
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


# ---------------------------------------------------------------------------------------------------- memory


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()


# ---------------------------------------------------------------------------------------------------- machine


def _mem_total_gb() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the numbers were measured on, without importing a framework (versions come from package metadata)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu_name(), "cores": cores, "memory_gb": _mem_total_gb(), "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("torch", "tensorflow-cpu", "tensorflow", "keras", "numpy")
                     if _version(d)},
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
    }


# ---------------------------------------------------------------------------------------------------- data


def load_data(name: str, limit: int, seed: int = 0):
    """The benchmark images: a built-in dataset (or image folder) with every image in the train split."""
    split = (1.0, 0.0, 0.0)
    if name.removeprefix("builtin:") in BUILTINS:
        return open_dataset(name, split=split, seed=seed, limit=limit)
    return open_dataset(name, split=split, seed=seed)


# ---------------------------------------------------------------------------------------------------- processes


def child_env(threads: int | None = None) -> dict[str, str]:
    """The environment of a measurement process; ``threads`` caps both frameworks' CPU thread pools (OpenMP for
    torch, TensorFlow's intra-/inter-op pools), read when the framework is imported."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    if threads:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                                                "TF_NUM_INTEROP_THREADS")})
    return env


def run_task(task: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one measurement task in a fresh interpreter (``python -m zoo_core.bench.worker``); its JSON result."""
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        spec, out = Path(tmp) / "task.json", Path(tmp) / "result.json"
        spec.write_text(json.dumps({**task, "spawned_at": time.time()}))  # start-up wall times count from here
        try:
            proc = subprocess.run([sys.executable, "-m", "zoo_core.bench.worker", str(spec), str(out)],
                                  capture_output=True, text=True, env=child_env(task.get("threads")),
                                  timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"benchmark task {task.get('kind')} {task.get('model', '')} "
                             f"{task.get('framework', '')} took longer than {timeout:.0f} s") from exc
        if proc.returncode != 0 or not out.is_file():
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise BenchError(f"benchmark task {task.get('kind')} {task.get('model', '')} "
                             f"{task.get('framework', '')} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())
