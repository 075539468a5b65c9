"""Reading run directories: what ``zoo runs``, ``zoo runs compare`` and ``zoo info RUN`` show.

A run directory is what ``zoo train`` / ``finetune(out=...)`` writes: ``history.json`` (per-epoch metrics),
``run.json`` (state, pid, wall time; tracking.session), ``report.json`` (the test report), ``train_args.json``.
"""

from __future__ import annotations

import io
import json
import os
import socket
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import ZooError
from .fileio import atomic_write
from .tracking import RUN_FILE, TB_DIR
from .training.reports import HISTORY_NAME, INTERRUPTED_NAME, REPORT_NAME

RUN_ARGS = "train_args.json"
_SKIP = {TB_DIR, INTERRUPTED_NAME, "__pycache__"}


@dataclass
class Run:
    """One run directory as read from its files."""

    path: Path
    state: str  # running / finished / interrupted / failed
    model: str | None = None
    framework: str | None = None
    data: str | None = None
    epochs: int = 0  # complete epochs
    epochs_planned: int | None = None
    best_val_acc: float | None = None
    test_acc: float | None = None
    test_split: str | None = None
    images_per_second: float | None = None  # median over epochs
    wall_seconds: float | None = None
    labels: list[str] = field(default_factory=list)
    history: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    record: dict[str, Any] = field(default_factory=dict)  # run.json

    def summary(self) -> dict[str, Any]:
        """The plain-data summary (``zoo runs --json``, ``zoo info RUN --json``)."""
        keys = ("state", "model", "framework", "data", "epochs", "epochs_planned", "best_val_acc", "test_acc",
                "test_split", "images_per_second", "wall_seconds", "labels")
        return {"path": str(self.path), **{k: getattr(self, k) for k in keys}}


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def is_run(path: str | os.PathLike) -> bool:
    p = Path(path)
    return (p / HISTORY_NAME).is_file() or (p / RUN_FILE).is_file()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _seconds_since(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    try:
        return max((datetime.now(timezone.utc) - datetime.fromisoformat(stamp)).total_seconds(), 0.0)
    except ValueError:
        return 0.0


def _state(record: dict[str, Any], history: dict[str, Any], args: dict[str, Any]) -> str:
    if record:
        state = record.get("state", "interrupted")
        # "running" whose process is gone (SIGKILL, a crash, the machine stopped): interrupted
        if state == "running" and record.get("host") == socket.gethostname() and not _pid_alive(int(record["pid"])):
            return "interrupted"
        return state
    # a run from before run.json: complete when it reached its epochs (or stopped on purpose)
    done = len(history.get("epoch", []))
    planned = args.get("epochs")
    if planned is None or done >= int(planned) or "stopped_early" in history or "stopped_by" in history:
        return "finished"
    return "interrupted"


def read_run(path: str | os.PathLike) -> Run:
    """Read one run directory; a ZooError when it is not one."""
    p = Path(path)
    if not is_run(p):
        raise ZooError(f"{p} is not a training run (no {HISTORY_NAME} or {RUN_FILE}); give a directory that "
                       "zoo train --out wrote")
    history, record, args = _json(p / HISTORY_NAME), _json(p / RUN_FILE), _json(p / RUN_ARGS)
    report = _json(p / REPORT_NAME) or None
    config = _json(p / "config.json")
    zoo_meta = config.get("zoo") if isinstance(config.get("zoo"), dict) else {}
    val = [v for v in history.get("val_acc", []) if v is not None]
    ips = [v for v in history.get("images_per_second", []) if v is not None]
    state = _state(record, history, args)
    wall = record.get("wall_seconds")
    if wall is not None and state == "running":
        wall = float(wall) + _seconds_since(record.get("updated_at"))
    elif wall is None and history.get("seconds"):
        wall = float(sum(history["seconds"]))
    return Run(
        path=p, state=state,
        model=record.get("model") or args.get("model") or zoo_meta.get("name") or config.get("architecture"),
        framework=record.get("framework") or args.get("framework") or zoo_meta.get("saved_from"),
        data=record.get("data") or args.get("data"),
        epochs=len(history.get("epoch", [])),
        epochs_planned=record.get("epochs") or args.get("epochs"),
        best_val_acc=max(val) if val else None,
        test_acc=report.get("accuracy") if report else None,
        test_split=report.get("split") if report else None,
        images_per_second=statistics.median(ips) if ips else None,
        wall_seconds=wall,
        labels=list(record.get("classes") or config.get("label_names") or []),
        history=history, report=report, record=record)


def find_runs(dirs: Iterable[str | os.PathLike], depth: int = 3) -> list[Run]:
    """Every run in ``dirs``: each is a run directory or a folder searched for them (``depth`` levels down)."""
    found: list[Path] = []

    def walk(p: Path, level: int) -> None:
        if is_run(p):
            found.append(p)
            return
        if level >= depth:
            return
        for child in sorted(c for c in p.iterdir() if c.is_dir() and c.name not in _SKIP):
            walk(child, level + 1)

    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            raise ZooError(f"{p} is not a directory; give run directories or folders that hold them "
                           "(zoo runs runs/)")
        walk(p, 0)
    return [read_run(p) for p in dict.fromkeys(found)]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


TABLE_HEADER = ["run", "model", "framework", "data", "epochs", "best val acc", "test acc", "images/s", "wall time",
                "state"]


def table_rows(runs: Sequence[Run]) -> list[list[str]]:
    rows = []
    for r in runs:
        test = _fmt(r.test_acc, ".4f")
        if r.test_acc is not None and r.test_split not in (None, "test"):
            test += f" ({r.test_split})"
        epochs = f"{r.epochs}/{r.epochs_planned}" if r.epochs_planned else str(r.epochs)
        rows.append([str(r.path), r.model or "-", r.framework or "-", r.data or "-", epochs,
                     _fmt(r.best_val_acc, ".4f"), test, _fmt(r.images_per_second, ".0f"), duration(r.wall_seconds),
                     r.state])
    return rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_compare(runs: Sequence[Run], path: str | os.PathLike) -> Path:
    """One PNG: loss (train solid, val dashed), accuracy, learning rate per epoch and the per-step training loss of
    every run, overlaid in one colour per run, over a table of final metrics."""
    plt = _pyplot()
    fig = plt.figure(figsize=(12, 7.5 + 0.3 * len(runs)))
    grid = fig.add_gridspec(3, 2, height_ratios=[1, 1, 0.25 + 0.12 * len(runs)])
    ax_loss, ax_acc = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_lr, ax_step = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    ax_table = fig.add_subplot(grid[2, :])
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(runs):
        c, h, name = colours[i % len(colours)], r.history, f"{r.path.name} ({r.framework or '?'})"
        epochs = h.get("epoch", [])
        for ax, key, style, label in ((ax_loss, "train_loss", "-", "train"), (ax_loss, "val_loss", "--", "val"),
                                      (ax_acc, "train_acc", "-", "train"), (ax_acc, "val_acc", "--", "val"),
                                      (ax_lr, "lr", "-", None)):
            ys = h.get(key, [])
            pts = [(e, y) for e, y in zip(epochs, ys, strict=False) if y is not None]
            if pts:
                xs, values = zip(*pts, strict=True)
                ax.plot(xs, values, style, color=c, marker="o", ms=3, label=f"{name} {label or ''}".strip())
        if h.get("step"):
            ax_step.plot(h["step"], h["step_loss"], color=c, label=name)
    for ax, title, xlabel in ((ax_loss, "loss", "epoch"), (ax_acc, "accuracy", "epoch"),
                              (ax_lr, "learning rate", "epoch"), (ax_step, "training loss per logged steps", "step")):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if ax.lines:
            ax.legend(fontsize=7)
    if any(ax_lr.lines) and all(v and v > 0 for r in runs for v in r.history.get("lr", [])):
        ax_lr.set_yscale("log")
    ax_table.axis("off")
    rows = [row[:1] + row[1:] for row in table_rows(runs)]
    tbl = ax_table.table(cellText=rows, colLabels=TABLE_HEADER, loc="center", cellLoc="left")
    tbl.auto_set_font_size(False)
    tbl.set_fontsize(7)
    tbl.auto_set_column_width(list(range(len(TABLE_HEADER))))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, buf.getvalue())
    return out
