"""Distributed training: who this process is and the ``--nproc`` launcher (``env``, framework-free), and the
engines, each imported with its framework: ``torch_ddp`` (DistributedDataParallel under torchrun) and
``tf_strategy`` (tf.distribute). See docs/distributed.md."""

from __future__ import annotations

from ..errors import DistributedError
from .engines import engine
from .env import (
    DEBUG_DIR_ENV,
    DEFAULT_TIMEOUT,
    LAUNCH_ENV,
    STRATEGIES,
    TIMEOUT_ENV,
    TFConfig,
    TorchEnv,
    argv_for,
    debug_record,
    fingerprint,
    free_port,
    is_main_process,
    launch,
    rank_and_world,
    record_final,
    timeout_seconds,
    torchrun_command,
)

__all__ = [
    "DEBUG_DIR_ENV", "DEFAULT_TIMEOUT", "LAUNCH_ENV", "STRATEGIES", "TIMEOUT_ENV", "DistributedError", "TFConfig",
    "TorchEnv", "argv_for", "debug_record", "engine", "fingerprint", "free_port", "is_main_process", "launch",
    "rank_and_world", "record_final", "timeout_seconds", "torchrun_command",
]
