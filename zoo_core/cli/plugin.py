"""`zoo plugin new`: start a plugin package."""

from __future__ import annotations

import argparse

from ..scaffold import check_name, files, new_plugin
from .app import command


def _plugin_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="plugin_command", metavar="SUBCOMMAND", required=True)
    new = sub.add_parser("new", help="write a skeleton plugin package zoo-NAME (pyproject, hooks, builders, test)",
                         description="write a skeleton plugin package zoo-NAME (pyproject, hooks, builders, test)")
    new.add_argument("name", help="architecture name (lowercase, digits, underscores), e.g. mynet")
    new.add_argument("--dir", default=".", help="parent directory of the new package (default: here)")


@command("plugin", "plugin authoring: `zoo plugin new NAME` writes a skeleton plugin package")(_plugin_args)
def cmd_plugin(args: argparse.Namespace) -> int:
    path = new_plugin(args.name, args.dir)
    names = check_name(args.name)
    print(f"created {path}: distribution {names.distribution}, module {names.module}, "
          f"architecture {names.architecture!r}")
    for rel in files(names):
        print(f"  {rel}")
    print(f"next: write the builders in {names.module}/torch_model.py and {names.module}/keras_model.py, then\n"
          f"  pip install -e {path} && pytest {path / 'tests'}")
    return 0
