"""`zoo predict`: the top-k labels of image files and folders."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from .. import prediction
from ..errors import ZooError
from .app import command, table

FORMATS = ("table", "json", "csv")


def _predict_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint directory, registry name or hf:// handle")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files and/or folders of images")
    p.add_argument("--framework", "-f", default="torch")
    p.add_argument("--top-k", "-k", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--format", choices=FORMATS, help="table (default on a terminal), json (default otherwise), csv")


def render(results: list[prediction.Prediction], fmt: str) -> str:
    """The predictions as a table, JSON (a list of {image, predictions, error}) or CSV (a row per image and rank)."""
    if fmt == "json":
        return json.dumps([r.to_dict() for r in results], indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["image", "rank", "label", "index", "probability", "error"])
        for r in results:
            if r.error:
                writer.writerow([r.source, "", "", "", "", r.error])
            for rank, t in enumerate(r.top, 1):
                writer.writerow([r.source, rank, t.label, t.index, f"{t.probability:.6f}", ""])
        return buf.getvalue().rstrip("\n")
    rows = []
    for r in results:
        if r.error:
            rows.append([r.source, "ERROR", "", r.error])
            continue
        rest = ", ".join(f"{t.label} {t.probability:.1%}" for t in r.top[1:])
        rows.append([r.source, r.top[0].label, f"{r.top[0].probability:.1%}", rest])
    return table(rows, ["image", "label", "prob", "next"])


@command("predict", "top-k labels of images (files or folders) with a model's own preprocessing")(_predict_args)
def cmd_predict(args: argparse.Namespace) -> int:
    if args.top_k < 1 or args.batch_size < 1:
        raise ZooError("--top-k and --batch-size must be >= 1")
    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    results = prediction.predict(args.model, args.images, top_k=args.top_k, batch_size=args.batch_size,
                                 framework=args.framework)
    if not results:
        raise ZooError(f"no images found in {', '.join(args.images)}; give image files or folders holding "
                       "image files")
    print(render(results, fmt))
    failed = [r for r in results if r.error]
    if failed:
        print(f"zoo predict: {len(failed)} of {len(results)} images could not be read (listed above); "
              "the others were predicted", file=sys.stderr)
        return 1
    return 0
