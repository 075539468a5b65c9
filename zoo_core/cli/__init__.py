"""The ``zoo`` command line: ``app`` holds the registry and ``main``; each sibling module holds one family of
commands (catalog, checkpoints, hub, training, ...)."""

from .app import build_parser, command, main

__all__ = ["build_parser", "command", "main"]
