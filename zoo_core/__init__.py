"""zoo: a plugin-based model zoo for image classification, the same in PyTorch and TensorFlow/Keras.

``import zoo_core`` imports no framework; torch or TensorFlow load when a model of that framework is built.
The layers of this package and what each may import are in docs/architecture.md.
"""

from __future__ import annotations

import importlib

from ._version import __version__
from .architecture import Architecture, BuildSpec
from .checkpoint.io import convert, save
from .errors import (
    ArchitectureUnavailableError,
    CheckpointError,
    DataError,
    ExportError,
    FrameworkNotInstalledError,
    RegistryError,
    UnknownFrameworkError,
    UnknownModelError,
    ZooError,
)
from .factory import load, model_info
from .hookspecs import hookimpl
from .hub import pull, push
from .models import list_models, spec_of
from .plugins import list_plugins
from .tracking import RunSession  # registers the built-in TensorBoard tracker plugin (imports no tensorboard)

# Training, evaluation and export pull in more (PIL, matplotlib, the exporters): loaded on first use, so that
# `import zoo_core` and `zoo list` stay fast.
_LAZY = {"export": "export", "prune": "export", "evaluate": "training", "finetune": "training",
         "freeze": "training", "predict": "prediction", "trainable_summary": "training", "transform": "data",
         "unfreeze": "training"}

# Submodules reachable as attributes (``zoo.data.builtin(...)``) without importing them up front.
_SUBMODULES = {"augment": "data.augment", "checkpoint": "checkpoint", "data": "data", "hub": "hub",
               "prediction": "prediction", "testing": "testing", "training": "training"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{_SUBMODULES[name]}", __name__)
    raise AttributeError(f"module 'zoo_core' has no attribute {name!r}")


__all__ = [
    "Architecture",
    "ArchitectureUnavailableError",
    "BuildSpec",
    "CheckpointError",
    "DataError",
    "ExportError",
    "FrameworkNotInstalledError",
    "RegistryError",
    "UnknownFrameworkError",
    "UnknownModelError",
    "RunSession",
    "ZooError",
    "__version__",
    "convert",
    "evaluate",
    "export",
    "finetune",
    "freeze",
    "hookimpl",
    "list_models",
    "list_plugins",
    "load",
    "model_info",
    "predict",
    "prune",
    "pull",
    "push",
    "save",
    "spec_of",
    "trainable_summary",
    "transform",
    "unfreeze",
]
