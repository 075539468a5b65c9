"""``RunSession``: a run's ``run.json`` (state, pid, wall time) and the chosen trackers, fed by the training loop."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import plugins
from ..fileio import atomic_write_text
from .base import EPOCH_KEYS, RUN_FILE, selected_trackers

log = logging.getLogger("zoo.tracking")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RunSession:
    """One process's part of a run. ``start`` (by ``finetune``) picks the trackers and marks the run running;
    ``finish`` (or leaving the ``with`` block: finished, interrupted on Ctrl-C / SIGTERM, failed on an error) ends
    it. A tracker that raises is reported once and dropped: it never stops training."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.trackers: dict[str, Any] = {}
        self.info: dict[str, Any] = {}
        self.report: dict[str, Any] | None = None
        self.started = False
        self.finished = False
        self._t0 = 0.0
        self._wall_before = 0.0

    # -- the loop's side -------------------------------------------------------------------------------------
    def start(self, info: Mapping[str, Any], history: Mapping[str, Any] | None = None) -> None:
        """Mark the run running and start the trackers. A resumed run hands them its ``history`` so far (steps and
        epochs, as if logged again): each tracker shows the whole run, whatever the previous process wrote before
        it stopped (TensorBoard keeps the later of two points of a tag at one step)."""
        if self.started:
            return
        names = selected_trackers()  # an unknown name in ZOO_TRACKERS fails here, before any training
        self.info = {**info, "out": str(self.out)}
        previous = _read(self.out / RUN_FILE)
        self._wall_before = float(previous.get("wall_seconds", 0.0)) if info.get("resumed") else 0.0
        self._t0 = time.monotonic()
        self.started = True
        self._write("running", started_at=previous.get("started_at") if info.get("resumed") else _now(),
                    epoch=int(info.get("start_epoch", 0)), trackers=names)
        factories = plugins.trackers()
        for name in names:
            try:
                self.trackers[name] = factories[name](dict(self.info))
            except Exception as exc:
                log.warning("tracker %s could not start and is skipped: %s: %s", name, type(exc).__name__, exc)
        if history and info.get("resumed"):
            for step, loss in zip(history.get("step", []), history.get("step_loss", []), strict=False):
                self._each("log_step", step, {"train_loss": loss})
            for i, epoch in enumerate(history.get("epoch", [])):
                self._each("log_epoch", epoch, {k: history[k][i] for k in EPOCH_KEYS if k in history})

    def log_step(self, step: int, metrics: Mapping[str, float]) -> None:
        self._each("log_step", step, dict(metrics))

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self._write("running", epoch=epoch)
        self._each("log_epoch", epoch, dict(metrics))

    def set_report(self, report: Mapping[str, Any]) -> None:
        """The evaluation report, handed to the trackers when the run finishes."""
        self.report = dict(report)

    def finish(self, state: str = "finished") -> None:
        if not self.started or self.finished:
            return
        self.finished = True
        self._write(state, ended_at=_now())
        self._each("finish", state, self.report)

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish("finished")
        elif issubclass(exc_type, KeyboardInterrupt):  # Ctrl-C, and SIGTERM as the zoo command raises it
            self.finish("interrupted")
        else:
            self.finish("failed")

    # -- internals -------------------------------------------------------------------------------------------
    def _each(self, method: str, *args: Any) -> None:
        for name, tracker in list(self.trackers.items()):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:
                log.warning("tracker %s failed in %s and is dropped for this run: %s: %s", name, method,
                            type(exc).__name__, exc)
                del self.trackers[name]

    def _write(self, state: str, **fields: Any) -> None:
        path = self.out / RUN_FILE
        record = _read(path) if path.is_file() else {}
        record.update({k: v for k, v in self.info.items() if k not in ("out", "config")})
        record.update(fields)
        record.update(state=state, pid=os.getpid(), host=socket.gethostname(), updated_at=_now(),
                      wall_seconds=round(self._wall_before + time.monotonic() - self._t0, 3))
        if state == "running":
            record.pop("ended_at", None)
        record["config"] = self.info.get("config", record.get("config"))
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(record, indent=2, default=str) + "\n")


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
