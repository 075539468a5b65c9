"""The distributed engine of each framework, reached by name: each imports its framework when imported."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..frameworks import require

_ENGINES = {"torch": "zoo_core.distributed.torch_ddp", "tf": "zoo_core.distributed.tf_strategy"}


def engine(framework: str) -> ModuleType:
    """``torch_ddp`` (DistributedDataParallel under torchrun) or ``tf_strategy`` (tf.distribute), imported."""
    return importlib.import_module(_ENGINES[require(framework)])
