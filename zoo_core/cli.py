"""The ``zoo`` command line. Sub-commands live in small functions; frameworks are imported only by the commands
that build models, so ``zoo list`` stays fast."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from .errors import ZooError

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str):
    """Register a sub-command: the decorated function runs it, ``configure`` adds its arguments."""

    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def deco(fn: Command) -> Command:
            _COMMANDS[name] = (fn, configure, help)
            return fn

        return deco

    return wrap


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="wildcard pattern, e.g. 'resnet*'")
    p.add_argument("--framework", "-f", help="only models this framework can build (torch, tf, ...)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


@command("list", "list the registered models")(_list_args)
def cmd_list(args: argparse.Namespace) -> int:
    from . import models, plugins

    names = models.list_models(args.pattern, framework=args.framework)
    rows = []
    for name in names:
        entry = models.get_entry(name)
        arch = plugins.get_architecture(entry.architecture)
        h, w = entry.input_size
        rows.append([name, entry.architecture, ",".join(arch.frameworks), f"{h}x{w}x{entry.in_chans}",
                     str(entry.num_classes)])
    if args.json:
        keys = ["name", "architecture", "frameworks", "input", "num_classes"]
        print(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=2))
    else:
        print(_table(rows, ["model", "architecture", "frameworks", "input (HxWxC)", "classes"]))
        hidden = [(e, why) for e, why in models.unavailable_entries() if e.name in
                  set(models.list_models(args.pattern, include_unavailable=True))]
        for entry, why in hidden:
            print(f"unavailable: {entry.name}: {why}", file=sys.stderr)
    return 0


def _info_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="model name or alias")
    p.add_argument("--no-params", action="store_true", help="skip building the models to count parameters")
    p.add_argument("--json", action="store_true")


@command("info", "show a model's registry entry, stages, preprocessing and parameters per framework")(_info_args)
def cmd_info(args: argparse.Namespace) -> int:
    from .models import model_info

    info = model_info(args.name, params=not args.no_params)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    h, w = info["input_size"]
    lines = [
        f"{info['name']}: {info['description']}",
        f"  architecture   {info['architecture']} (plugin {info.get('plugin')})",
        f"  defined at     {info['source']}",
        f"  frameworks     {', '.join(info.get('frameworks', [])) or '-'}",
        f"  config         {json.dumps(info['config'])}",
        f"  classes        {info['num_classes']}",
        f"  input          {h}x{w}, {info['in_chans']} channels (torch NCHW, Keras NHWC)",
        f"  preprocessing  mean {list(info['mean'])}, std {list(info['std'])}, "
        f"{info['interpolation']}, crop {info['crop_pct']} ({info['crop_mode']})",
        f"  license        {info['license']}",
    ]
    if info.get("aliases"):
        lines.append(f"  aliases        {', '.join(info['aliases'])}")
    if info.get("weights"):
        wt = info["weights"]
        lines.append(f"  weights        hf://{wt['repo']}@{wt['revision']} sha256 {wt.get('sha256') or '-'}")
    if info.get("stages"):
        lines.append(f"  stages         {' > '.join(info['stages'])}")
    for fw, n in info.get("params", {}).items():
        lines.append(f"  params ({fw:<5}) {n:,}")
    if not info["available"]:
        lines.append(f"  UNAVAILABLE    {info['unavailable_reason']}")
    print("\n".join(lines))
    return 0


def _plugins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true")


@command("plugins", "list plugins, their versions, architectures and frameworks, and load errors")(_plugins_args)
def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import list_plugins

    infos = list_plugins()
    if args.json:
        print(json.dumps([{**vars(p), "ok": p.ok} for p in infos], indent=2))
        return 0
    rows = [[p.name, p.distribution or "-", p.version or "-", ",".join(p.architectures) or "-",
             ",".join(p.frameworks) or "-", "ok" if p.ok else "FAILED"] for p in infos]
    print(_table(rows, ["plugin", "distribution", "version", "architectures", "frameworks", "status"]))
    for p in infos:
        if not p.ok:
            print(f"FAILED {p.label}: {p.error}")
    return 0


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="checkpoint directory (zoo or timm layout) or hf://owner/repo[@revision]")
    p.add_argument("--framework", "-f", required=True, help="framework to load it in and save it from (torch, tf)")
    p.add_argument("--to", required=True, help="output checkpoint directory")


@command("convert", "load a checkpoint in one framework and save it from there, with a parity check")(_convert_args)
def cmd_convert(args: argparse.Namespace) -> int:
    from . import checkpoint, frameworks, models
    from .testing import compare

    src = args.src
    if src.startswith("hf://"):
        from . import hub

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
    from . import hub

    metrics = None
    if args.metrics:
        from pathlib import Path

        raw = json.loads(Path(args.metrics).read_text())
        metrics = {k: v for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    info = hub.push(args.src, args.repo_id, private=args.private, revision=args.revision, tag=args.tag,
                    commit_message=args.commit_message, create_pr=args.create_pr,
                    overwrite_card=args.overwrite_card, metrics=metrics)
    print(f"pushed {args.src} to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


def _pull_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("handle", help="owner/name or hf://owner/name[@revision]")
    p.add_argument("--revision", help="tag, branch or commit sha")
    p.add_argument("--to", dest="local_dir", help="copy into this directory instead of only the cache")


@command("pull", "download a checkpoint from the Hub (sha256-checked)")(_pull_args)
def cmd_pull(args: argparse.Namespace) -> int:
    from . import hub

    path = hub.pull(args.handle, revision=args.revision, local_dir=args.local_dir)
    print(path)
    return 0


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="registry name or checkpoint directory")
    p.add_argument("--data", required=True, help="built-in dataset (mnist5k, digits) or an image folder")
    p.add_argument("--framework", "-f", default="torch")
    p.add_argument("--out", "-o", required=True, help="run directory: checkpoint, history.json, curves.png")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd", "adam"])
    p.add_argument("--schedule", default="cosine", choices=["cosine", "step", "constant"])
    p.add_argument("--warmup-epochs", type=float, default=0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--grad-clip", type=float)
    p.add_argument("--freeze-until", "--freeze", dest="freeze_until", type=lambda s: s.removeprefix("until="),
                   help="freeze every stage up to and including this one (also --freeze until=STAGE)")
    p.add_argument("--split", default="0.7,0.2,0.1", help="train,val,test fractions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", action="store_true")
    p.add_argument("--early-stopping", type=int)
    p.add_argument("--mixed-precision", choices=["bf16", "fp16"])
    p.add_argument("--device", default="auto")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--resume", action="store_true")


@command("train", "fine-tune a model on a dataset; a checkpoint per epoch, history, curves, test report")(_train_args)
def cmd_train(args: argparse.Namespace) -> int:
    from . import data, models, training

    split = tuple(float(f) for f in args.split.split(","))
    ds = data.open_dataset(args.data, split=split, seed=args.seed)
    model = models.load(args.model, args.framework, num_classes=ds.num_classes)
    if args.freeze_until:
        training.freeze(model, until=args.freeze_until)
    history = training.finetune(
        model, ds, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, optimizer=args.optimizer,
        schedule=args.schedule, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
        weight_decay=args.weight_decay, grad_clip=args.grad_clip, seed=args.seed, out=args.out, device=args.device,
        mixed_precision=args.mixed_precision, early_stopping=args.early_stopping, resume=args.resume,
        augment=args.augment, num_workers=args.num_workers)
    if len(ds.test) or len(ds.val):
        report = training.evaluate(model, ds, out=args.out)
        print(f"{report['split']} accuracy {report['accuracy']:.4f} after {history['epoch'][-1]} epochs; "
              f"run in {args.out}")
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint directory (or registry name)")
    p.add_argument("--data", required=True, help="built-in dataset (mnist5k, digits) or an image folder")
    p.add_argument("--framework", "-f", default="torch")
    p.add_argument("--split-name", default="test", choices=["train", "val", "test"])
    p.add_argument("--split", default="0.7,0.2,0.1", help="train,val,test fractions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", "-o", help="write report.json and confusion.png here")
    p.add_argument("--json", action="store_true")


@command("eval", "accuracy, per-class metrics and confusion matrix of a model on a dataset split")(_evaluate_args)
def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import data, models, training

    ds = data.open_dataset(args.data, split=tuple(float(f) for f in args.split.split(",")), seed=args.seed)
    model = models.load(args.model, args.framework)
    report = training.evaluate(model, ds.split(args.split_name), out=args.out)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        top5 = f", top-5 {report['top5_accuracy']:.4f}" if "top5_accuracy" in report else ""
        print(f"{args.split_name}: accuracy {report['accuracy']:.4f}{top5}, macro F1 {report['macro_f1']:.4f} "
              f"on {report['n']} images")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="zoo", description="A model zoo for PyTorch and TensorFlow/Keras.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (fn, configure, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        configure(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
