"""Distributed training, framework-free part: who this process is (rank, world size, chief) from torchrun's
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``) or from ``TF_CONFIG``; the collective
timeout; and the ``zoo train --nproc N`` launcher, which re-runs the same command under torchrun (PyTorch's own
elastic launcher). The engines themselves live beside it in ``torch_ddp.py`` (DDP) and ``tf_strategy.py``
(tf.distribute), each imported with its framework. See docs/distributed.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import backends
from ..errors import DistributedError, Terminated
from ..fileio import atomic_write
from ..frameworks import require

log = logging.getLogger("zoo.distributed")

TIMEOUT_ENV = "ZOO_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
DEBUG_DIR_ENV = "ZOO_DIST_DEBUG_DIR"  # each rank writes rank<R>.json (pid, weight fingerprint, history) here
STRATEGIES = ("none", "mirrored", "multiworker")
LAUNCH_ENV = "ZOO_LAUNCH_NPROC"  # set by `zoo train --nproc N` for its ranks (torchrun's parser rejects --nproc)


# ---------------------------------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class TorchEnv:
    """The process's place in a torchrun job."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TorchEnv | None:
        """The torchrun environment, or None when this process was not started by torchrun."""
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" not in env or "RANK" not in env:
            return None
        try:
            rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
            local = int(env.get("LOCAL_RANK", rank))
            port = int(env.get("MASTER_PORT", "29500"))
        except ValueError as exc:
            raise DistributedError(f"bad torchrun environment ({exc}); RANK, WORLD_SIZE, LOCAL_RANK and "
                                   "MASTER_PORT must be integers (start the job with torchrun)") from None
        if world < 1 or not 0 <= rank < world:
            raise DistributedError(f"bad torchrun environment: RANK={rank} WORLD_SIZE={world}; "
                                   "RANK must be in [0, WORLD_SIZE)")
        return cls(rank, world, local, env.get("MASTER_ADDR", "127.0.0.1"), port)


@dataclass(frozen=True)
class TFConfig:
    """The parsed ``TF_CONFIG`` of a tf.distribute multi-worker job."""

    cluster: dict[str, list[str]]
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return len(self.cluster.get("chief", [])) + len(self.cluster.get("worker", []))

    @property
    def is_chief(self) -> bool:
        """The chief writes the run's files: task ``chief``, or worker 0 when the cluster has no chief."""
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0
                                             and not self.cluster.get("chief"))

    @property
    def rank(self) -> int:
        if self.task_type == "chief":
            return 0
        return self.task_index + (1 if self.cluster.get("chief") else 0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TFConfig | None:
        env = os.environ if environ is None else environ
        text = env.get("TF_CONFIG", "").strip()
        if not text:
            return None
        fix = ('set TF_CONFIG to JSON like {"cluster": {"worker": ["host1:port", "host2:port"]}, '
               '"task": {"type": "worker", "index": 0}}')
        try:
            cfg = json.loads(text)
            cluster = {str(k): [str(a) for a in v] for k, v in cfg["cluster"].items()}
            task_type, task_index = str(cfg["task"]["type"]), int(cfg["task"]["index"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DistributedError(f"TF_CONFIG is not valid ({type(exc).__name__}: {exc}); {fix}") from None
        if task_type not in cluster or not 0 <= task_index < len(cluster[task_type]):
            raise DistributedError(f"TF_CONFIG task {task_type}:{task_index} is not in its cluster "
                                   f"{sorted(cluster)}; {fix}")
        return cls(cluster, task_type, task_index)


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment, else TF_CONFIG, else (0, 1)."""
    env = TorchEnv.from_env()
    if env is not None:
        return env.rank, env.world_size
    tf_cfg = TFConfig.from_env()
    if tf_cfg is not None and tf_cfg.task_type in ("chief", "worker"):
        return tf_cfg.rank, tf_cfg.num_workers
    return 0, 1


def is_main_process() -> bool:
    """True for the one process that writes checkpoints, logs and the progress bar: torchrun rank 0, the
    TF_CONFIG chief, or a plain single process."""
    env = TorchEnv.from_env()
    if env is not None:
        return env.rank == 0
    tf_cfg = TFConfig.from_env()
    return tf_cfg.is_chief if tf_cfg is not None else True


def timeout_seconds() -> float:
    """How long a collective (or joining the group) may wait for the other workers: $ZOO_DIST_TIMEOUT seconds,
    600 by default. A dead worker makes the others fail after at most this long instead of hanging."""
    text = os.environ.get(TIMEOUT_ENV, "")
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise DistributedError(f"{TIMEOUT_ENV}={text!r} is not a positive number of seconds")
    return value


# ---------------------------------------------------------------------------------------------------- diagnostics


def fingerprint(tensors: Mapping[str, Any]) -> str:
    """sha256 over canonical tensors (name, dtype, shape, bytes): equal only for bit-identical weights."""
    import numpy as np

    h = hashlib.sha256()
    for key in sorted(tensors):
        a = np.ascontiguousarray(np.asarray(tensors[key]))
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def debug_record(rank: int, **fields: Any) -> None:
    """With $ZOO_DIST_DEBUG_DIR set, merge ``fields`` into that directory's rank<R>.json (each rank its own
    file), so a test or an operator can compare what every rank holds. Does nothing otherwise."""
    folder = os.environ.get(DEBUG_DIR_ENV)
    if not folder:
        return
    path = Path(folder) / f"rank{rank}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.update(fields, rank=rank, pid=os.getpid())
    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode())


# ---------------------------------------------------------------------------------------------------- launcher


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def torchrun_command(nproc: int, argv: Sequence[str], port: int | None = None) -> list[str]:
    """``python -m torch.distributed.run`` running ``python -m zoo_core ARGV`` in ``nproc`` local processes that
    meet on 127.0.0.1."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(nproc),
            "--master-addr", "127.0.0.1", "--master-port", str(port or free_port()), "--max-restarts", "0",
            "--monitor-interval", "0.5", "-m", "zoo_core", *argv]


def launch(nproc: int, argv: Sequence[str], out: str | os.PathLike | None = None) -> int:
    """Run ``zoo ARGV`` under torchrun with ``nproc`` processes on this machine and wait for it. torchrun's
    agent stops every worker when one fails; a failure raises :class:`DistributedError` naming the run
    directory to ``--resume`` from."""
    require("torch")
    if nproc < 1:
        raise DistributedError(f"--nproc must be >= 1, got {nproc}")
    if TorchEnv.from_env() is not None:
        raise DistributedError("--nproc launches torchrun, but this process already runs under torchrun "
                               f"(WORLD_SIZE={os.environ['WORLD_SIZE']}); drop --nproc")
    env = dict(os.environ)
    # torchrun would set 1 thread per worker and print a banner about it; split the cores instead.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    env[LAUNCH_ENV] = str(nproc)
    cmd = torchrun_command(nproc, argv)
    log.info("launching: %s", " ".join(cmd))
    proc = subprocess.Popen(cmd, env=env)
    try:
        code = proc.wait()
    except KeyboardInterrupt as exc:
        if isinstance(exc, Terminated):  # SIGTERM came to this process alone: pass it on; torchrun forwards it
            proc.terminate()  # to its workers, which save their interrupted state as on Ctrl-C
        # Ctrl-C reached torchrun too (same process group): let it stop its workers
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        raise
    if code != 0:
        where = f" in {out}" if out is not None else ""
        raise DistributedError(f"distributed training failed: torchrun exited with code {code} (the failing rank's "
                               f"error is above); the last complete epoch's checkpoint{where} is intact: rerun "
                               "the same command with --resume to continue from it")
    return 0


def argv_for(parser: Any, args: Any, drop: Sequence[str] = ()) -> list[str]:
    """The command-line arguments that reproduce ``args`` for ``parser`` (an argparse sub-parser), leaving out
    the destinations in ``drop``: positionals in order, then every option whose value is not its default."""
    import argparse

    positional, options = [], []
    for action in parser._actions:  # argparse has no public API to walk its actions
        if isinstance(action, argparse._HelpAction) or action.dest in drop or action.dest == "func":
            continue
        value = getattr(args, action.dest, None)
        if not action.option_strings:
            if value is not None:
                positional += [str(v) for v in value] if isinstance(value, list) else [str(value)]
            continue
        flag = next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])
        if value is None:
            continue
        if action.nargs == "?" and value == action.const:  # e.g. --resume given alone
            options.append(flag)
        elif isinstance(action, argparse._StoreTrueAction):
            if value:
                options.append(flag)
        elif isinstance(action, argparse._StoreFalseAction):
            if not value:
                options.append(flag)
        elif value != action.default:
            options += [flag, str(value)]
    return positional + options


def record_final(model: Any, rank: int, history: dict[str, Any]) -> None:
    """With $ZOO_DIST_DEBUG_DIR set, record this rank's final weight fingerprint and history (see debug_record)."""
    if not os.environ.get(DEBUG_DIR_ENV):
        return
    debug_record(rank, weights=fingerprint(backends.of(model).to_canonical(model)), history=history)
