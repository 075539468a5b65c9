"""`zoo push`, `zoo pull`: share checkpoints on the Hugging Face Hub."""

from __future__ import annotations

import argparse

from .. import hub
from .app import command


def _push_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="checkpoint directory")
    p.add_argument("repo_id", help="owner/name on the Hub")
    p.add_argument("--private", action="store_true")
    p.add_argument("--revision", help="branch to push to (created if missing)")
    p.add_argument("--tag", help="tag the new commit")
    p.add_argument("--message", "-m", dest="commit_message")
    p.add_argument("--create-pr", action="store_true")
    p.add_argument("--overwrite-card", action="store_true", help="replace a README.md the zoo did not write")
    p.add_argument("--metrics", help="JSON file of metrics for the model card (e.g. report.json)")


@command("push", "push a checkpoint to the Hugging Face Hub (weights, config and model card in one commit)")(_push_args)
def cmd_push(args: argparse.Namespace) -> int:
    metrics = hub.read_metrics(args.metrics) if args.metrics else None
    info = hub.push(args.src, args.repo_id, private=args.private, revision=args.revision, tag=args.tag,
                    commit_message=args.commit_message, create_pr=args.create_pr,
                    overwrite_card=args.overwrite_card, metrics=metrics)
    print(f"pushed {args.src} to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


def _pull_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("handle", help="owner/name or hf://owner/name[@revision]")
    p.add_argument("--revision", help="tag, branch or commit sha")
    p.add_argument("--to", dest="local_dir", help="copy into this directory (new, empty, or an earlier pull's) "
                   "instead of only the cache")
    p.add_argument("--overwrite", action="store_true", help="allow --to a folder holding other files (a pull "
                   "replaces its model.safetensors, config.json and README.md)")


@command("pull", "download a checkpoint from the Hub (sha256-checked)")(_pull_args)
def cmd_pull(args: argparse.Namespace) -> int:
    path = hub.pull(args.handle, revision=args.revision, local_dir=args.local_dir, overwrite=args.overwrite)
    print(path)
    return 0
