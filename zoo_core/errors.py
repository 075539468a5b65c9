"""Errors the zoo raises. Each message names the problem and the fix."""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class UnknownModelError(ZooError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownFrameworkError(ZooError, ValueError):
    pass


class FrameworkNotInstalledError(ZooError, ImportError):
    pass


class RegistryError(ZooError, ValueError):
    pass


class PluginError(ZooError):
    pass


class ArchitectureUnavailableError(ZooError, LookupError):
    pass


class CheckpointError(ZooError, ValueError):
    pass


class StageError(ZooError, ValueError):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM received by the ``zoo`` command (a scheduler's preemption, ``kill``, torchrun stopping its
    workers), raised like Ctrl-C so that work in progress is saved the same way; the command exits with 143."""
