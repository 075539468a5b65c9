"""`zoo train`, `zoo eval`: fine-tune and evaluate on a dataset."""

from __future__ import annotations

import argparse
import json

from .app import command


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
    from .. import data, models, training

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
    from .. import data, models, training

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
