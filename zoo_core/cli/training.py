"""`zoo train`, `zoo eval`: fine-tune and evaluate on a dataset."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
from pathlib import Path

from .. import data, factory, tracking, training
from ..checkpoint.format import CONFIG_NAME, WEIGHTS_NAME
from ..data.datasets import BUILTINS
from ..distributed import env as distributed
from ..distributed.engines import engine
from ..errors import ZooError
from ..fileio import DirectoryLock, check_writable_dir, removed_if_unfinished, write_json, zoo_files
from ..frameworks import canonical_framework
from ..training.config import validate
from ..training.loop import seed_everything, train_config
from ..training.reports import (
    CONFUSION_NAME,
    CURVES_NAME,
    HISTORY_NAME,
    INTERRUPTED_NAME,
    REPORT_NAME,
    STATE_NAME,
)
from ..training.tuning import summary as tuning_summary
from .app import command

FRAMEWORK_CHOICES = ["torch", "pytorch", "pt", "tf", "tensorflow", "keras"]
RUN_ARGS = "train_args.json"  # the arguments of a run, in its directory, so `zoo train --resume DIR` needs no more


DATA_HELP = ("built-in dataset (mnist5k, digits), an image folder, a .csv/.jsonl manifest, tar shards "
             "(shards/train-{000000..000127}.tar) or hf://datasets/OWNER/NAME[@REV]")


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", nargs="?", help="registry name or checkpoint directory")
    p.add_argument("--data", help=DATA_HELP)
    p.add_argument("--framework", "-f", default="torch", choices=FRAMEWORK_CHOICES, metavar="{torch,tf}",
                   help="torch (also pytorch, pt) or tf (also tensorflow, keras)")
    p.add_argument("--out", "-o", help="run directory (new or empty): checkpoint, history.json, curves.png, "
                   "report.json")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the training run already in --out (its files only; other files are kept)")
    p.add_argument("--epochs", type=int, default=3, help="epochs to train (in all, when resuming)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    p.add_argument("--batch-size", type=int, default=64, help="images per step (per process/replica)")
    p.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd", "adam"], help="optimizer")
    p.add_argument("--schedule", default="cosine", choices=["cosine", "step", "constant", "plateau"],
                   help="learning-rate schedule after the warmup")
    p.add_argument("--plateau-patience", type=int, default=2, metavar="EPOCHS",
                   help="plateau: epochs without a better val loss before the lr is reduced")
    p.add_argument("--plateau-factor", type=float, default=0.1, help="plateau: the factor the lr is multiplied by")
    p.add_argument("--log-every", type=int, default=10, metavar="STEPS",
                   help="trackers (TensorBoard, ZOO_TRACKERS) get the mean training loss every this many steps")
    p.add_argument("--warmup-epochs", type=float, default=0, help="linear warmup, in epochs")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing in [0, 1)")
    p.add_argument("--weight-decay", type=float, help="weight decay (default: 0.01 for adamw, else 0)")
    p.add_argument("--grad-clip", type=float, help="clip the global gradient norm to this value")
    p.add_argument("--freeze-until", "--freeze", dest="freeze_until", type=lambda s: s.removeprefix("until="),
                   help="freeze every stage up to and including this one (also --freeze until=STAGE)")
    p.add_argument("--split", default="0.7,0.2,0.1", help="train,val,test fractions")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the init, the shuffles and dropout")
    p.add_argument("--limit", type=int, help="use only this many images of a built-in dataset (class-balanced)")
    p.add_argument("--strict", action="store_true", help="fail on unreadable images instead of skipping them")
    p.add_argument("--stream", action="store_true", help="tar shards: read them front to back while training "
                   "(shuffle buffer, each rank its own shards) instead of indexing them")
    p.add_argument("--augment", nargs="?", const="crop,flip,jitter", default=None,
                   help="train-time augmentation: crop, flip, jitter, randaugment (comma-separated; crop,flip,jitter "
                   "when given alone)")
    p.add_argument("--mix", nargs="?", const="mixup,cutmix", default=None,
                   help="batch-level mixup, cutmix (comma-separated; both when given alone), label-smoothing aware")
    p.add_argument("--early-stopping", type=int, metavar="EPOCHS",
                   help="stop after this many epochs without a better val accuracy")
    p.add_argument("--mixed-precision", choices=["bf16", "fp16"], help="low-precision compute, float32 weights")
    p.add_argument("--tune", default="auto", metavar="{auto,off}",
                   help="auto (default): time exact speed settings (e.g. channels_last) on the first run of this "
                   "model, batch and device, cached, and train with the faster; off: the framework's defaults")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (torch); auto, cpu, gpu:N (tf)")
    p.add_argument("--num-workers", type=int, default=0, help="loader worker processes (Grain; 0: in-process)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (or --out) from its last saved state")
    p.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="also save the training state every this many steps, so --resume continues mid-epoch")
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


# What a run is: these cannot change when it is resumed (a different model or data would be another run).
IMMUTABLE = ("model", "data", "framework", "split", "seed", "limit")
# The files a run consists of: --overwrite replaces these and nothing else.
RUN_FILES = (RUN_ARGS, WEIGHTS_NAME, CONFIG_NAME, f"{STATE_NAME}.pt", f"{STATE_NAME}.npz", HISTORY_NAME, CURVES_NAME,
             REPORT_NAME, CONFUSION_NAME, INTERRUPTED_NAME, tracking.RUN_FILE, tracking.TB_DIR)


def _explicit(args: argparse.Namespace) -> set[str]:
    """The options given on the command line (a default repeated explicitly counts), from the typed argv."""
    argv = list(getattr(args, "argv", None) or [])
    if "train" not in argv:
        return {k for k, v in vars(args).items() if v is not None}
    parser = _train_parser()
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv[argv.index("train") + 1:])))


def data_id(data: str | None) -> str | None:
    """What a --data value names, whatever the spelling: a built-in's name, or the folder's absolute path."""
    if data is None:
        return None
    if (data in BUILTINS and not Path(data).exists()) or data.startswith("hf://"):
        return data
    return str(Path(data).expanduser().resolve())


def _same(key: str, a: object, b: object) -> bool:
    if key == "framework":
        return canonical_framework(str(a)) == canonical_framework(str(b))
    if key == "data":
        return data_id(str(a)) == data_id(str(b))
    return a == b


def _resumed_args(args: argparse.Namespace) -> argparse.Namespace:
    """Arguments of the run being resumed: those saved in its directory, overridden by any given explicitly (a
    value equal to the default included); what makes it that run (model, data, framework, split) cannot change."""
    run = Path(args.resume if isinstance(args.resume, str) else (args.out or ""))
    if not str(run) or not (run / RUN_ARGS).is_file():
        raise ZooError(f"--resume: {run or '(no directory)'} is not a zoo training run (no {RUN_ARGS}); give the "
                       "run directory, e.g. zoo train --resume runs/r18")
    try:
        saved = json.loads((run / RUN_ARGS).read_text())
    except ValueError as exc:
        raise ZooError(f"{run / RUN_ARGS} is not valid JSON ({exc}); the run cannot be resumed") from None
    merged = dict(saved)
    for key in _explicit(args) - {"resume", "out", "overwrite"}:
        value = getattr(args, key)
        if key in IMMUTABLE and key in saved and not _same(key, value, saved[key]):
            raise ZooError(f"--resume {run}: the run was trained with --{key.replace('_', '-')} {saved[key]}, not "
                           f"{value}; a run continues as it started: start a new run with another --out")
        merged[key] = value
    merged["out"], merged["resume"] = str(run), True
    return argparse.Namespace(**{**vars(args), **merged})


def _describe_run(out: Path) -> str:
    try:
        saved = json.loads((out / RUN_ARGS).read_text())
        return f"{saved.get('model')} on {saved.get('data')} in {saved.get('framework')}"
    except (OSError, ValueError):
        return "a zoo run"


def _check_out(out: Path, overwrite: bool) -> None:
    """A new run goes into a new or empty folder; into an existing run or a non-empty folder only with
    --overwrite (a run is continued with --resume)."""
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out} is a file; give a directory for the run")
    held = zoo_files(out) if out.is_dir() else []
    if not held or overwrite:
        return
    if any(name in RUN_FILES for name in held):
        raise ZooError(f"{out} already holds a training run ({_describe_run(out)}); continue it with --resume "
                       f"{out}, replace it with --overwrite, or choose another --out")
    raise ZooError(f"--out {out} is not empty ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}); choose a "
                   "new or empty folder, or --overwrite to write the run beside those files")


def _replace_run(out: Path) -> None:
    """--overwrite: remove the previous run's own files (and nothing else) before the new run writes."""
    for name in RUN_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@command("train", "fine-tune a model on a dataset; a checkpoint per epoch, history, curves, test report")(_train_args)
def cmd_train(args: argparse.Namespace) -> int:
    if args.resume:
        args = _resumed_args(args)
    missing = [flag for flag, value in (("MODEL", args.model), ("--data", args.data), ("--out", args.out))
               if not value]
    if missing:
        raise ZooError(f"zoo train needs {', '.join(missing)} (or --resume RUN_DIR to continue a run)")
    out = Path(args.out)
    main = distributed.is_main_process()  # rank 0 / the chief writes the run's files
    if main and not args.resume:
        _check_out(out, args.overwrite)
    check_writable_dir(out, "--out")
    # every argument is checked before the first byte of the run is written
    fit = dict(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, optimizer=args.optimizer,
               schedule=args.schedule, warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing,
               weight_decay=args.weight_decay, grad_clip=args.grad_clip, seed=args.seed, device=args.device,
               mixed_precision=args.mixed_precision, augment=args.augment, num_workers=args.num_workers,
               log_every=args.log_every, plateau_patience=args.plateau_patience, plateau_factor=args.plateau_factor,
               mix=args.mix, tune=getattr(args, "tune", "auto"),
               checkpoint_every=getattr(args, "checkpoint_every", None))
    cfg = train_config(**fit)
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
                           limit=args.limit, stream=args.stream)
    seed_everything(args.seed, args.framework)  # the model's random init depends on --seed only
    with strategy.scope() if strategy is not None else contextlib.nullcontext():  # variables of the strategy
        model = factory.load(args.model, args.framework, num_classes=ds.num_classes)
        if args.freeze_until:
            training.freeze(model, until=args.freeze_until)
    validate(cfg, model, ds)
    saved = {k: v for k, v in vars(args).items() if k not in ("func", "resume", "verbose", "command", "argv",
                                                                 "overwrite", "tuning")}
    saved["nproc"] = int(os.environ.get(distributed.LAUNCH_ENV, args.nproc))  # so --resume relaunches as many
    saved["data_id"] = data_id(args.data)  # what --data named, so `zoo eval` knows the run's data however spelt
    # no epoch finished: leave nothing half-made
    with removed_if_unfinished(out if main else None, HISTORY_NAME), \
            DirectoryLock(out, "zoo train") if main else contextlib.nullcontext():
        if main:
            if not args.resume:
                _check_out(out, args.overwrite)  # again, under the lock: another run may have started
                if args.overwrite:
                    _replace_run(out)
            write_json(out / RUN_ARGS, saved)
        # the run (run.json, trackers) ends after the test report, which the trackers get too
        with tracking.RunSession(out) if main else contextlib.nullcontext() as run:
            history = training.finetune(model, ds, out=out, resume=bool(args.resume), strategy=strategy,
                                        early_stopping=args.early_stopping, run=run, **fit)
            if not main:
                return 0
            saved["tuning"] = tuning_summary(history.get("tuning") or {})  # what --tune chose, for the record
            write_json(out / RUN_ARGS, saved)
            done = _plural(history["epoch"][-1], "epoch")
            if len(ds.test) or len(ds.val):
                report = training.evaluate(model, ds, out=out)
                run.set_report(report)
                print(f"{report['split']} accuracy {report['accuracy']:.4f} after {done}; run in {out}")
            else:
                print(f"trained {done}; run in {out}")
    return 0


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="checkpoint directory (or registry name)")
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--framework", "-f", default="torch")
    p.add_argument("--split-name", default="test", choices=["train", "val", "test"], help="the split to evaluate")
    p.add_argument("--split", help="train,val,test fractions (default: the run's own when MODEL is a zoo train "
                   "run on the same data, else 0.7,0.2,0.1), or the name of the split to evaluate")
    p.add_argument("--seed", type=int, help="split seed (default: the run's own, else 0)")
    p.add_argument("--limit", type=int, help="use only this many images of a built-in dataset (as in training)")
    p.add_argument("--strict", action="store_true", help="fail on unreadable images instead of skipping them")
    p.add_argument("--stream", action="store_true", default=None, help="tar shards read as streams, as in "
                   "training (default: as the run named by MODEL was trained)")
    p.add_argument("--out", "-o", help="write report.json and confusion.png here")
    p.add_argument("--json", action="store_true")


@command("eval", "accuracy, per-class metrics and confusion matrix of a model on a dataset split")(_evaluate_args)
def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.split in ("train", "val", "test"):  # `zoo eval RUN --data D --split test`
        args.split_name, args.split = args.split, None
    run_file = Path(args.model) / RUN_ARGS
    if run_file.is_file():  # the same split as in training, so the test images are the held-out ones
        run = json.loads(run_file.read_text())
        if run.get("data_id", data_id(run.get("data"))) == data_id(args.data):
            for key in ("split", "seed", "limit", "stream"):
                if getattr(args, key) is None:
                    setattr(args, key, run.get(key))
    args.split = args.split or "0.7,0.2,0.1"
    args.seed = 0 if args.seed is None else args.seed
    ds = data.open_dataset(args.data, split=parse_split(args.split), seed=args.seed, strict=args.strict,
                           limit=args.limit, stream=bool(args.stream))
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
