"""`zoo convert`: move a checkpoint between frameworks with a parity check."""

from __future__ import annotations

import argparse

from .. import checkpoint, frameworks, hub, models
from ..parity import compare
from .app import command


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="checkpoint directory (zoo or timm layout) or hf://owner/repo[@revision]")
    p.add_argument("--framework", "-f", required=True, help="framework to load it in and save it from (torch, tf)")
    p.add_argument("--to", required=True, help="output checkpoint directory")


@command("convert", "load a checkpoint in one framework and save it from there, with a parity check")(_convert_args)
def cmd_convert(args: argparse.Namespace) -> int:
    src = args.src
    if src.startswith("hf://"):
        src = str(hub.pull(src))
    target = frameworks.require(args.framework)
    model = checkpoint.load_dir(src, target)
    other = "tf" if target == "torch" else "torch"
    report = {}
    if frameworks.is_installed(other):
        diff, rel, scale = compare(checkpoint.load_dir(src, other), model)
        report = {"parity": {"max_abs_logit_diff": diff, "max_rel_logit_diff": rel, "frameworks": [other, target]}}
        print(f"parity {other} vs {target}: max |Δlogits| {diff:.2e} ({rel:.2e} relative)")
    out = checkpoint.save(model, args.to, extra=report)
    print(f"saved {models.spec_of(model).entry.name} from {target} to {out}")
    return 0
