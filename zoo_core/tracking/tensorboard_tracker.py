"""The built-in TensorBoard tracker: scalars in ``RUN/tb/events.out.tfevents.*``, the same tags from both frameworks.

Written with the ``tensorboard`` package's own record writer and protos (``tensorboard.summary.writer.record_writer``,
``tensorboard.compat.proto``), which import neither TensorFlow nor torch: a torch-only user needs no TensorFlow, a
Keras user loads no torch. (tensorboard's ``EventFileWriter`` and tensorboardX's ``SummaryWriter`` were not used:
the first imports TensorFlow whenever it is installed, the second torch.)
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ZooError
from ..hookspecs import hookimpl
from .base import EPOCH_TAGS, STEP_TAG, TB_DIR, report_tags

_uid = 0


class EventWriter:
    """One event file (TFRecord framing of ``Event`` protos), written synchronously: flushed at every epoch."""

    def __init__(self, logdir: Path):
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.summary.writer.record_writer import RecordWriter
        except ImportError as exc:
            raise ZooError("the TensorBoard tracker needs the tensorboard package; pip install 'zoo[track]' "
                           "(or set ZOO_TRACKERS= to train without it)") from exc
        global _uid
        _uid += 1
        self._event_pb2, self._summary_pb2 = event_pb2, summary_pb2
        logdir.mkdir(parents=True, exist_ok=True)
        # the name TensorBoard looks for; pid and a counter keep two writers of one second apart
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{_uid}"
        self.path = logdir / name
        self._file = open(self.path, "wb")  # noqa: SIM115 (closed in close())
        self._writer = RecordWriter(self._file)
        self._write(event_pb2.Event(wall_time=time.time(), step=0, file_version="brain.Event:2"))

    def _write(self, event: Any) -> None:
        self._writer.write(event.SerializeToString())

    def scalars(self, step: int, values: Mapping[str, float]) -> None:
        summary = self._summary_pb2.Summary(value=[
            self._summary_pb2.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()])
        self._write(self._event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def restart(self) -> None:
        """A ``SessionLog.START`` at step 0: TensorBoard drops what earlier files of this logdir hold (the way
        TensorFlow marks a restarted job); the resumed run then writes its whole history again."""
        session_log = self._event_pb2.SessionLog(status=self._event_pb2.SessionLog.START)
        self._write(self._event_pb2.Event(wall_time=time.time(), step=0, session_log=session_log))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            self._file.close()


class TensorBoardTracker:
    """Per epoch (x = epoch): EPOCH_TAGS; every ``log_every`` steps (x = global step): STEP_TAG; at the end, the
    evaluation report's accuracy / macro F1 (x = last epoch)."""

    def __init__(self, run: Mapping[str, Any]):
        if run.get("out") is None:
            raise ZooError("the TensorBoard tracker needs a run directory (out=DIR)")
        self.writer = EventWriter(Path(run["out"]) / TB_DIR)
        if run.get("resumed"):  # the session replays the history so far next
            self.writer.restart()
        self.last_epoch = int(run.get("start_epoch", 0))

    def log_step(self, step: int, metrics: Mapping[str, float]) -> None:
        if metrics.get("train_loss") is not None:
            self.writer.scalars(step, {STEP_TAG: metrics["train_loss"]})

    def log_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        self.writer.scalars(epoch, {tag: metrics[k] for k, tag in EPOCH_TAGS.items() if metrics.get(k) is not None})
        self.writer.flush()
        self.last_epoch = epoch

    def finish(self, state: str, report: Mapping[str, Any] | None) -> None:
        if report:
            self.writer.scalars(self.last_epoch, report_tags(report))
        self.writer.close()


@hookimpl
def register_trackers(register) -> None:
    register("tensorboard", TensorBoardTracker)
