"""`zoo train`, `zoo eval`: fine-tune and evaluate on a dataset."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from .. import data, factory, tracking, training
from ..distributed import env as distributed
from ..distributed.engines import engine
from ..errors import ZooError
from ..fileio import atomic_write
from ..frameworks import canonical_framework
from ..training.loop import seed_everything
from .app import command

RUN_ARGS = "train_args.json"  # the arguments of a run, in its directory, so `zoo train --resume DIR` needs no more


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="registry name or checkpoint directory")
    p.add_argument("--data", help="built-in dataset (mnist5k, digits) or an image folder")
    p.add_argument("--framework", "-f", default="torch")
    p.add_argument("--out", "-o", help="run directory: checkpoint, history.json, curves.png, report.json")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd", "adam"])
    p.add_argument("--schedule", default="cosine", choices=["cosine", "step", "constant", "plateau"])
    p.add_argument("--plateau-patience", type=int, default=2, metavar="EPOCHS",
                   help="plateau: epochs without a better val loss before the lr is reduced")
    p.add_argument("--plateau-factor", type=float, default=0.1, help="plateau: the factor the lr is multiplied by")
    p.add_argument("--log-every", type=int, default=10, metavar="STEPS",
                   help="trackers (TensorBoard, ZOO_TRACKERS) get the mean training loss every this many steps")
    p.add_argument("--warmup-epochs", type=float, default=0)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--grad-clip", type=float)
    p.add_argument("--freeze-until", "--freeze", dest="freeze_until", type=lambda s: s.removeprefix("until="),
                   help="freeze every stage up to and including this one (also --freeze until=STAGE)")
    p.add_argument("--split", default="0.7,0.2,0.1", help="train,val,test fractions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="use only this many images of a built-in dataset (class-balanced)")
    p.add_argument("--strict", action="store_true", help="fail on unreadable images instead of skipping them")
    p.add_argument("--augment", nargs="?", const="crop,flip,jitter", default=None,
                   help="train-time augmentation: crop, flip, jitter (comma-separated; all when given alone)")
    p.add_argument("--early-stopping", type=int, metavar="EPOCHS")
    p.add_argument("--mixed-precision", choices=["bf16", "fp16"])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (torch); auto, cpu, gpu:N (tf)")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (or --out) from its last complete epoch")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="torch: train with DDP in N local processes, launched with torchrun (batch size per process)")
    p.add_argument("--strategy", default="none", choices=["none", "mirrored", "multiworker"],
                   help="tf: tf.distribute strategy; multiworker reads TF_CONFIG (batch size per replica)")


def _train_parser() -> argparse.ArgumentParser:
    """A stand-alone parser with `zoo train`'s arguments: their defaults, and argv to relaunch a run."""
    parser = argparse.ArgumentParser(prog="zoo train")
    _train_args(parser)
    return parser


def parse_split(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(f) for f in text.split(","))
    except ValueError:
        raise ZooError(f"--split {text!r} is not a list of fractions; write it as train,val,test, "
                       "e.g. 0.8,0,0.2") from None


def _resumed_args(args: argparse.Namespace, parser_defaults: dict[str, object]) -> argparse.Namespace:
    """Arguments of the run being resumed: those saved in its directory, overridden by any given explicitly."""
    run = Path(args.resume if isinstance(args.resume, str) else (args.out or ""))
    if not str(run) or not (run / RUN_ARGS).is_file():
        raise ZooError(f"--resume: {run or '(no directory)'} is not a zoo training run (no {RUN_ARGS}); give the "
                       "run directory, e.g. zoo train --resume runs/r18")
    saved = json.loads((run / RUN_ARGS).read_text())
    merged = dict(saved)
    for key, value in vars(args).items():
        if key in ("resume", "func") or value is None:
            continue
        if key in parser_defaults and value == parser_defaults[key]:
            continue
        merged[key] = value
    merged["out"], merged["resume"] = str(run), True
    return argparse.Namespace(**{**vars(args), **merged})


@command("train", "fine-tune a model on a dataset; a checkpoint per epoch, history, curves, test report")(_train_args)
def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        args = _resumed_args(args, {a.dest: a.default for a in _train_parser()._actions})
    missing = [flag for flag, value in (("MODEL", args.model), ("--data", args.data), ("--out", args.out))
               if not value]
    if missing:
        raise ZooError(f"zoo train needs {', '.join(missing)} (or --resume RUN_DIR to continue a run)")
    if args.nproc > 1 and distributed.TorchEnv.from_env() is None:  # under torchrun already: this is a rank
        if canonical_framework(args.framework) != "torch":
            raise ZooError("--nproc launches torchrun for PyTorch; for TensorFlow use --strategy mirrored (the GPUs "
                           "of this machine) or --strategy multiworker with TF_CONFIG set for each worker")
        argv = ["-v"] * args.verbose + ["train", *distributed.argv_for(_train_parser(), args, drop=("nproc",))]
        return distributed.launch(args.nproc, argv, out=args.out)
    strategy = None
    if args.strategy != "none":
        if canonical_framework(args.framework) != "tf":
            raise ZooError(f"--strategy {args.strategy} is a tf.distribute strategy for --framework tf; PyTorch "
                           "trains distributed with --nproc N (or under torchrun)")

        # before any other TensorFlow op, as tf.distribute requires
        strategy = engine("tf").create(args.strategy)
    ds = data.open_dataset(args.data, split=parse_split(args.split), seed=args.seed, strict=args.strict,
                           limit=args.limit)
    seed_everything(args.seed, args.framework)  # the model's random init depends on --seed only
    with strategy.scope() if strategy is not None else contextlib.nullcontext():  # variables of the strategy
        model = factory.load(args.model, args.framework, num_classes=ds.num_classes)
        if args.freeze_until:
            training.freeze(model, until=args.freeze_until)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    main = distributed.is_main_process()  # rank 0 / the chief writes the run's files
    saved = {k: v for k, v in vars(args).items() if k not in ("func", "resume", "verbose", "command")}
    saved["nproc"] = int(os.environ.get(distributed.LAUNCH_ENV, args.nproc))  # so --resume relaunches as many
    if main:
        atomic_write(out / RUN_ARGS, (json.dumps(saved, indent=2) + "\n").encode())
    # the run (run.json, trackers) ends after the test report, which the trackers get too
    with tracking.RunSession(out) if main else contextlib.nullcontext() as run:
        history = training.finetune(
            model, ds, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, optimizer=args.optimizer,
            schedule=args.schedule, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
            weight_decay=args.weight_decay, grad_clip=args.grad_clip, seed=args.seed, out=out, device=args.device,
            mixed_precision=args.mixed_precision, early_stopping=args.early_stopping, resume=bool(args.resume),
            augment=args.augment, num_workers=args.num_workers, strategy=strategy,
            log_every=args.log_every, plateau_patience=args.plateau_patience, plateau_factor=args.plateau_factor,
            run=run)
        if not main:
            return 0
        if len(ds.test) or len(ds.val):
            report = training.evaluate(model, ds, out=out)
            run.set_report(report)
            print(f"{report['split']} accuracy {report['accuracy']:.4f} after {history['epoch'][-1]} epochs; "
                  f"run in {out}")
        else:
            print(f"trained {history['epoch'][-1]} epochs; run in {out}")
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint directory (or registry name)")
    p.add_argument("--data", required=True, help="built-in dataset (mnist5k, digits) or an image folder")
    p.add_argument("--framework", "-f", default="torch")
    p.add_argument("--split-name", default="test", choices=["train", "val", "test"], help="the split to evaluate")
    p.add_argument("--split", help="train,val,test fractions (default: the run's own when MODEL is a zoo train "
                   "run on the same data, else 0.7,0.2,0.1), or the name of the split to evaluate")
    p.add_argument("--seed", type=int, help="split seed (default: the run's own, else 0)")
    p.add_argument("--limit", type=int, help="use only this many images of a built-in dataset (as in training)")
    p.add_argument("--strict", action="store_true", help="fail on unreadable images instead of skipping them")
    p.add_argument("--out", "-o", help="write report.json and confusion.png here")
    p.add_argument("--json", action="store_true")


@command("eval", "accuracy, per-class metrics and confusion matrix of a model on a dataset split")(_evaluate_args)
def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.split in ("train", "val", "test"):  # `zoo eval RUN --data D --split test`
        args.split_name, args.split = args.split, None
    run_file = Path(args.model) / RUN_ARGS
    if run_file.is_file():  # the same split as in training, so the test images are the held-out ones
        run = json.loads(run_file.read_text())
        if run.get("data") == args.data:
            for key in ("split", "seed", "limit"):
                if getattr(args, key) is None:
                    setattr(args, key, run.get(key))
    args.split = args.split or "0.7,0.2,0.1"
    args.seed = 0 if args.seed is None else args.seed
    ds = data.open_dataset(args.data, split=parse_split(args.split), seed=args.seed, strict=args.strict,
                           limit=args.limit)
    split = ds.split(args.split_name)
    if not len(split):
        have = [n for n in ("train", "val", "test") if len(ds.split(n))]
        raise ZooError(f"{args.data} has no images in its {args.split_name} split (splits with images: "
                       f"{', '.join(have) or 'none'}); choose one with --split-name, or change --split")
    model = factory.load(args.model, args.framework)
    report = training.evaluate(model, split, out=args.out)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        top5 = f", top-5 {report['top5_accuracy']:.4f}" if "top5_accuracy" in report else ""
        print(f"{args.split_name}: accuracy {report['accuracy']:.4f}{top5}, macro F1 {report['macro_f1']:.4f} "
              f"on {report['n']} images")
    return 0
