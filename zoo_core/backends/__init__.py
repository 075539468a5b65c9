"""Framework adapters: one backend module per framework (the :class:`~.base.Backend` protocol), the Keras layers
with torch numerics and the Keras <-> canonical weight mapping.

Layer 2: each backend is imported only when a model of that framework is built or used.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

from ..errors import ZooError
from ..frameworks import require
from .base import Backend

_MODULES = {"torch": "zoo_core.backends.torch_backend", "tf": "zoo_core.backends.tf_backend"}


def get(framework: str) -> Backend | ModuleType:
    """The backend module of a framework (``torch`` or ``tf``, aliases accepted), with its framework imported.

    Checks the framework is installed (naming the extra if not) and imports it in the way that avoids the
    TensorFlow/triton crash, before any plugin builder module imports it.
    """
    backend = importlib.import_module(_MODULES[require(framework)])
    backend.import_framework()
    return backend


def framework_of(model: Any) -> str:
    """``torch`` or ``tf`` for a model object, without importing a framework that is not already loaded."""
    if "torch" in sys.modules and isinstance(model, sys.modules["torch"].nn.Module):
        return "torch"
    if "keras" in sys.modules and isinstance(model, sys.modules["keras"].Model):
        return "tf"
    raise ZooError(f"expected a torch.nn.Module or a keras.Model, got {type(model).__name__}")


def of(model: Any) -> Backend | ModuleType:
    """The backend of a model object."""
    return get(framework_of(model))
