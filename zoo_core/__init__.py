"""zoo: a plugin-based model zoo for image classification, the same in PyTorch and TensorFlow/Keras.

``import zoo_core`` imports no framework; torch or TensorFlow load when a model of that framework is built.
"""

from __future__ import annotations

from .architecture import Architecture, BuildSpec
from .errors import (
    ArchitectureUnavailableError,
    CheckpointError,
    FrameworkNotInstalledError,
    RegistryError,
    UnknownFrameworkError,
    UnknownModelError,
    ZooError,
)
from .hookspecs import hookimpl
from .models import list_models, load, model_info, spec_of
from .plugins import list_plugins


def save(model, path, **kwargs):
    """Save a zoo model (torch or Keras) as a checkpoint directory: model.safetensors + config.json."""
    from .checkpoint import save as _save

    return _save(model, path, **kwargs)


def push(model_or_dir, repo_id: str, **kwargs):
    """Push a model or checkpoint directory to the Hugging Face Hub as one commit (weights, config, model card)."""
    from .hub import push as _push

    return _push(model_or_dir, repo_id, **kwargs)


def pull(handle: str, **kwargs):
    """Download a checkpoint from the Hub into the cache (or ``local_dir``), sha256-checked; returns its path."""
    from .hub import pull as _pull

    return _pull(handle, **kwargs)


def convert(src, framework: str, to):
    """Load a checkpoint in ``framework`` and save it from there (``zoo convert`` on the command line)."""
    from .checkpoint import convert as _convert

    return _convert(src, framework, to)

__version__ = "0.1.0"

# Training and data live in modules that import numpy/PIL/matplotlib: loaded on first use, so that
# `import zoo_core` and `zoo list` stay fast.
_LAZY = {"DataError": "data", "ExportError": "export", "export": "export", "prune": "export",
         "evaluate": "training", "finetune": "training", "freeze": "training",
         "trainable_summary": "training", "unfreeze": "training"}


# Submodules reachable as attributes (``zoo.data.builtin(...)``) without importing them up front.
_SUBMODULES = {"augment", "checkpoint", "data", "hub", "testing", "training"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'zoo_core' has no attribute {name!r}")

__all__ = [
    "Architecture",
    "ArchitectureUnavailableError",
    "BuildSpec",
    "CheckpointError",
    "DataError",
    "FrameworkNotInstalledError",
    "RegistryError",
    "UnknownFrameworkError",
    "UnknownModelError",
    "ZooError",
    "__version__",
    "hookimpl",
    "list_models",
    "list_plugins",
    "convert",
    "evaluate",
    "export",
    "finetune",
    "freeze",
    "load",
    "model_info",
    "prune",
    "pull",
    "push",
    "save",
    "spec_of",
    "trainable_summary",
    "unfreeze",
]
