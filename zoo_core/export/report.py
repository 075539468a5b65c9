"""Verification of an export against its source model, and ``export_report.json`` beside the artifact.

The report file of a folder maps each artifact's file name to its report, so several exports can share a folder.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import ExportError
from ..fileio import atomic_write, json_bytes

log = logging.getLogger("zoo.export")

REPORT_NAME = "export_report.json"
ATOL = 1e-4  # a float export must match its source within this max |Δlogits|
BATCH_SIZES = (2, 3)  # two batch sizes prove the batch axis is really dynamic

Runner = Callable[[np.ndarray], np.ndarray]


@dataclass
class ExportReport:
    """What was written and how well it matches the model it came from."""

    path: str
    format: str
    framework: str
    source: str
    exporter: str
    layout: str
    input_name: str
    output_name: str
    input_shape: list[Any]
    batch_sizes: list[int]
    max_abs_diff: float
    tolerance: float | None
    ok: bool
    file_size_bytes: int
    opset: int | None = None
    quantize: str | None = None
    quantization: dict[str, Any] | None = None
    accuracy: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the command line."""
        size = _mb(self.file_size_bytes)
        opset = f", opset {self.opset}" if self.opset else ""
        limit = f" (limit {self.tolerance:g})" if self.tolerance is not None else " (quantized: no limit)"
        line = (f"wrote {self.path} ({self.format} from {self.framework}{opset}, {self.layout}, {size}): "
                f"max |Δlogits| {self.max_abs_diff:.2e} vs the {self.framework} model at batch "
                f"{' and '.join(map(str, self.batch_sizes))}{limit}")
        q = self.quantization
        if q:
            line += (f"\n  {self.quantize} quantization: size {_mb(q['size_before_bytes'])} -> "
                     f"{_mb(q['size_after_bytes'])}, latency {q['latency_ms_before']:.2f} -> "
                     f"{q['latency_ms_after']:.2f} ms/image")
            if q.get("accuracy_before") is not None:
                line += (f", {q['split']} accuracy {q['accuracy_before']:.4f} -> {q['accuracy_after']:.4f} "
                         f"({100 * q['accuracy_delta']:+.2f} points on {q['n']} images)")
        return line


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def max_abs_diff(run: Runner, reference: Runner, batches: Sequence[np.ndarray]) -> float:
    """Largest |Δ| between two runners over the given batches; shape mismatches are errors."""
    worst = 0.0
    for x in batches:
        a, b = np.asarray(run(x)), np.asarray(reference(x))
        if a.shape != b.shape:
            raise ExportError(f"the export returns shape {a.shape} for a batch of {len(x)}, the source {b.shape}")
        if not np.all(np.isfinite(a)):
            raise ExportError(f"the export returns non-finite values (NaN/inf) for a batch of {len(x)}; "
                              "it is broken")
        worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b))))
    return worst


def latency_ms(run: Runner, x: np.ndarray, repeats: int = 20, warmup: int = 3, budget_s: float = 3.0) -> float:
    """Median wall time of one call in milliseconds (at most ``repeats`` calls or ``budget_s`` seconds)."""
    for _ in range(warmup):
        run(x)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def size_bytes(path: Path) -> int:
    """A file's size, or the total of a directory's files."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def versions(*packages: str) -> dict[str, str]:
    """Installed versions of the packages that took part (those not installed are left out)."""
    found = {"zoo": __version__}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def write(report: ExportReport, out: Path) -> Path:
    """Add the report under the artifact's name to ``export_report.json`` in the artifact's folder; atomic."""
    path = out.parent / REPORT_NAME
    reports: dict[str, Any] = {}
    if path.is_file():
        try:
            reports = json.loads(path.read_text())
        except ValueError:
            log.warning("%s was not valid JSON; starting it afresh", path)
        if not isinstance(reports, dict):
            reports = {}
    reports[out.name] = report.as_dict()
    atomic_write(path, json_bytes(json.loads(json.dumps(reports, default=_json_default))))
    return path


def read_all(out: str | Path) -> dict[str, Any]:
    """Every report in the ``export_report.json`` beside an artifact, by artifact name."""
    out = Path(out)
    path = out.parent / REPORT_NAME
    if not path.is_file():
        raise ExportError(f"{out} has no {REPORT_NAME} beside it; it was not written by zoo export")
    try:
        reports = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} is not readable JSON ({exc})") from None
    if not isinstance(reports, dict):
        raise ExportError(f"{path} is not a zoo export report (not a JSON object)")
    return reports


def read(out: str | Path) -> dict[str, Any]:
    """The stored report of one artifact."""
    out = Path(out)
    reports = read_all(out)
    path = out.parent / REPORT_NAME
    if out.name not in reports:
        raise ExportError(f"{path} has no report for {out.name}")
    return reports[out.name]


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
