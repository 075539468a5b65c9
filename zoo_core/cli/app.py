"""The command registry, the argument parser and ``main``. Commands live in the sibling modules, one module per
job; each imports frameworks only inside its function, so ``zoo list`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Sequence

from .._version import __version__
from ..errors import Terminated, ZooError
from ..frameworks import QUIET_ENV

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}

# Modules of zoo_core.cli that define commands, in the order `zoo --help` lists them.
COMMAND_MODULES = ("catalog", "checkpoints", "hub", "training", "runs", "predict", "serve", "plugin", "bench",
                   "export")

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"

# Libraries' log lines that tell a zoo user nothing (the zoo never uses what they miss).
_LIBRARY_NOISE = (
    "Failed to load jax profiler",  # Grain, at import, in the zoo and in each worker process, when JAX is absent
)


_HANDLER_NAME = "zoo"


def _drop_library_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_LIBRARY_NOISE)


def quiet_library_logs() -> None:
    """Give the root logger the zoo's handler (when it has none) and keep known library noise out of every handler.

    Run when this module is imported, not only by :func:`main`: worker processes started by spawn (Grain's) run
    the ``zoo`` script's imports, hence this, before they import the libraries that log at import."""
    if not logging.root.handlers:
        logging.basicConfig(format=LOG_FORMAT)
        logging.root.handlers[0].set_name(_HANDLER_NAME)
    for handler in logging.root.handlers:
        if _drop_library_noise not in handler.filters:
            handler.addFilter(_drop_library_noise)


quiet_library_logs()


def command(name: str, help: str):
    """Register a sub-command: the decorated function runs it, ``configure`` adds its arguments."""

    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def deco(fn: Command) -> Command:
            _COMMANDS[name] = (fn, configure, help)
            return fn

        return deco

    return wrap


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """`--help` shows each option's default (when it has one that says something)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    for module in COMMAND_MODULES:
        importlib.import_module(f"zoo_core.cli.{module}")
    parser = argparse.ArgumentParser(prog="zoo", description="A model zoo for PyTorch and TensorFlow/Keras.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (fn, configure, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, formatter_class=_HelpFormatter)
        configure(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # what was typed: a resumed run keeps only the options given explicitly
    level = logging.WARNING - 10 * min(args.verbose, 2)
    # a warning is one line naming what happened (the zoo's, e.g. a skipped image), not two quoting the code
    warnings.formatwarning = _one_line_warning
    if args.verbose < 2:  # TensorFlow's C++ start-up chatter (oneDNN notices); its errors still raise in Python
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault(QUIET_ENV, "1")
    quiet_library_logs()
    if any(h.get_name() == _HANDLER_NAME for h in logging.root.handlers):  # not when embedded (pytest's handlers)
        logging.root.setLevel(level)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = _raise_on_sigterm()
    try:
        return int(args.func(args) or 0)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a read-only folder, a permission: one line, not a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"zoo: error: {where}{exc.strerror or exc}; free space or choose a writable location", file=sys.stderr)
        return 1
    except Terminated:
        print("zoo: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      line: str | None = None) -> str:
    return f"zoo: warning: {message}\n"


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _raise_on_sigterm():
    """SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the main thread, so a training run saves its
    interrupted weights as on Ctrl-C instead of dying mid-epoch; returns the previous handler."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        return None
    return signal.signal(signal.SIGTERM, _terminated)

