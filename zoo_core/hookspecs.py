"""The hooks a zoo plugin implements (pluggy project name ``zoo``).

A plugin is a module (found through the ``zoo`` entry-point group) with functions marked ``@zoo_core.hookimpl``.
Hook implementations must not import torch or TensorFlow when the plugin module is imported: frameworks are
imported inside builders, which the core calls only when a model is built.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_architectures(register: Callable) -> None:
    """Register architectures by calling ``register(zoo_core.Architecture(...))`` once per architecture.

    An architecture carries a builder per framework, its ordered stage names and the
    canonical parameter-name patterns of each stage (used by ``freeze``).
    """


@hookspec
def registry_files() -> list[str | Path]:
    """Return paths of YAML files with named models (the schema of docs/registry.md; the built-in plugins ship
    theirs the same way)."""


@hookspec
def register_trackers(register: Callable) -> None:
    """Register run trackers by calling ``register(name, factory)``; ``ZOO_TRACKERS`` chooses which run.

    ``factory(run)`` gets the run's description (a dict: out, model, framework, data, classes, config, epochs,
    start_epoch, steps_per_epoch, log_every, resumed) and returns an object with the methods of
    ``zoo_core.tracking.Tracker``: ``log_step(step, metrics)``, ``log_epoch(epoch, metrics)`` and
    ``finish(state, report)``. Import heavy libraries in the factory, not when the plugin module is imported.
    """
