"""`zoo runs [DIR ...]`, `zoo runs compare RUN RUN ...`: the training runs in some folders, side by side."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import runs
from ..errors import ZooError
from .app import command, table


def _runs_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="*", metavar="DIR",
                   help="run directories or folders holding them (default: runs); 'compare RUN RUN ...' compares runs")
    p.add_argument("--out", "-o", default="compare.png", help="compare: the PNG to write (default compare.png)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


@command("runs", "list training runs (state, accuracy, speed); 'zoo runs compare RUN RUN' plots them together")(
    _runs_args)
def cmd_runs(args: argparse.Namespace) -> int:
    if args.dirs[:1] == ["compare"]:
        return _compare(args.dirs[1:], args)
    dirs = args.dirs or ["runs"]
    if not args.dirs and not Path("runs").is_dir():
        raise ZooError("no runs/ folder here; give the folders that hold your runs: zoo runs DIR ...")
    found = runs.find_runs(dirs)
    if args.json:
        print(json.dumps([r.summary() for r in found], indent=2))
    elif not found:
        print(f"no training runs in {', '.join(dirs)}")
    else:
        print(table(runs.table_rows(found), runs.TABLE_HEADER))
    return 0


def _compare(paths: list[str], args: argparse.Namespace) -> int:
    if len(paths) < 2:
        raise ZooError("zoo runs compare needs two or more run directories: zoo runs compare RUN RUN ...")
    selected = [runs.read_run(p) for p in paths]
    png = runs.plot_compare(selected, args.out)
    if args.json:
        print(json.dumps({"png": str(png), "runs": [r.summary() for r in selected]}, indent=2))
    else:
        print(table(runs.table_rows(selected), runs.TABLE_HEADER))
        print(f"curves of {len(selected)} runs in {png}")
    return 0
