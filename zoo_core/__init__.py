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

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "ArchitectureUnavailableError",
    "BuildSpec",
    "CheckpointError",
    "FrameworkNotInstalledError",
    "RegistryError",
    "UnknownFrameworkError",
    "UnknownModelError",
    "ZooError",
    "__version__",
    "hookimpl",
    "list_models",
    "list_plugins",
    "load",
    "model_info",
    "spec_of",
]
