"""`zoo export`, `zoo prune`: deployment formats (verified against the source model) and magnitude pruning."""

from __future__ import annotations

import argparse
import json

from ..export import export, prune
from .app import command


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(f) for f in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--split takes train,val,test fractions like 0.8,0,0.2, not {text!r}") from None


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="checkpoint directory, hf://owner/repo[@rev], or registry name (random weights)")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript", "savedmodel", "tflite"])
    p.add_argument("--out", "-o", required=True, help="output file (.onnx, .pt, .tflite) or SavedModel directory")
    p.add_argument("--framework", "-f", help="export from torch or tf (onnx only; default: the checkpoint's)")
    p.add_argument("--quantize", choices=["dynamic", "int8"],
                   help="dynamic: int8 weights (onnx, torchscript, tflite); int8: full integer tflite (needs --data)")
    p.add_argument("--data", help="dataset for accuracy and int8 calibration: mnist5k, digits or an image folder")
    p.add_argument("--split", type=_fractions, default=(0.7, 0.2, 0.1), help="train,val,test fractions of --data")
    p.add_argument("--split-name", default="test", choices=["train", "val", "test"],
                   help="the split accuracy is measured on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out the zoo did not export (a file, or a whole folder)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


@command("export", "export a model to onnx, torchscript, savedmodel or tflite, verified in its runtime")(_export_args)
def cmd_export(args: argparse.Namespace) -> int:
    report = export(args.src, args.format, args.out, framework=args.framework, quantize=args.quantize,
                    data=args.data, split=args.split, split_name=args.split_name, seed=args.seed, opset=args.opset,
                    overwrite=args.overwrite)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.summary())
        if report.accuracy:
            a = report.accuracy
            print(f"  {a['split']} accuracy {a['accuracy']:.4f} on {a['n']} images")
        print("  report: export_report.json beside it")
    return 0


def _prune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="checkpoint directory, hf://owner/repo[@rev], or registry name")
    p.add_argument("--amount", type=float, required=True, help="fraction of weights (or channels) to zero, e.g. 0.3")
    p.add_argument("--structured", action="store_true", help="zero whole output channels (L1 norm) instead")
    p.add_argument("--framework", "-f", help="prune in torch or tf (default: the checkpoint's framework)")
    p.add_argument("--out", "-o", required=True, help="output checkpoint directory")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


@command("prune", "magnitude-prune conv/linear weights and save a checkpoint; reports sparsity per layer")(_prune_args)
def cmd_prune(args: argparse.Namespace) -> int:
    report = prune(args.src, args.amount, structured=args.structured, framework=args.framework, out=args.out)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(report.table())
        print(report.summary())
    return 0
