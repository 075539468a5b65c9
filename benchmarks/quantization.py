"""Quantization: size, latency and accuracy before and after, for SimpleCNN trained on mnist5k (80/20 split,
seed 0, 3 epochs, torch), then exported float and quantized through the public API (`zoo.export`), each quantized
file verified in its own runtime: torch dynamic int8 (TorchScript), onnxruntime dynamic int8 (ONNX), TFLite dynamic
range and TFLite full int8 calibrated on 200 training images. Size before/after, latency (batch 1, one thread,
median) before/after, and test accuracy before/after on the 1000 held-out images.

Also, for honesty about conv nets: torch dynamic quantization of ResNet-18 (random weights, 64x64), which only
touches its final Linear layer. Prints a markdown table; writes benchmarks/results/quantize_simplecnn.json;
the checkpoint and exports go to benchmarks/out/quantize/.

    .venv/bin/python benchmarks/quantization.py [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch  # noqa: F401  (torch before TensorFlow in one process)

HERE = Path(__file__).resolve().parent

CASES = [  # (label, format, framework, quantize)
    ("torch dynamic int8 (TorchScript)", "torchscript", None, "dynamic"),
    ("onnxruntime dynamic int8 (ONNX from torch)", "onnx", "torch", "dynamic"),
    ("TFLite dynamic range", "tflite", None, "dynamic"),
    ("TFLite full int8 (200 calibration images)", "tflite", None, "int8"),
]
SUFFIX = {"torchscript": ".pt", "onnx": ".onnx", "tflite": ".tflite"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    import zoo_core as zoo

    out = HERE / "out" / "quantize"
    out.mkdir(parents=True, exist_ok=True)
    data = zoo.data.builtin("mnist5k", split=(0.8, 0.0, 0.2), seed=0)
    t0 = time.perf_counter()
    model = zoo.load("simplecnn", "torch", num_classes=data.num_classes)
    zoo.finetune(model, data, epochs=args.epochs, seed=0, progress=False)
    ckpt = zoo.save(model, out / "simplecnn")
    train_s = time.perf_counter() - t0
    rows = []
    for label, fmt, framework, quantize in CASES:
        report = zoo.export(str(ckpt), fmt, out / f"simplecnn-{quantize}-{fmt}{SUFFIX[fmt]}", framework=framework,
                            quantize=quantize, data=data)
        rows.append({**report.quantization, "model": "simplecnn (mnist5k, trained)", "method": label,
                     "max_abs_diff": report.max_abs_diff})
        print(report.summary(), flush=True)
    resnet = zoo.load("resnet18", "torch", input_size=64, num_classes=10)
    report = zoo.export(resnet, "torchscript", out / "resnet18-dynamic.pt", quantize="dynamic")
    rows.append({**report.quantization, "model": "resnet18 (random weights, 64x64)",
                 "method": "torch dynamic int8 (TorchScript)", "max_abs_diff": report.max_abs_diff})
    print(report.summary(), flush=True)

    lines = ["| model | method | size before → after (MB) | latency before → after (ms, batch 1, 1 thread) "
             "| test accuracy before → after (Δ points) | top-1 agreement |", "|---|---|---|---|---|---|"]
    for r in rows:
        acc = (f"{100 * r['accuracy_before']:.1f} % → {100 * r['accuracy_after']:.1f} % "
               f"({100 * r['accuracy_delta']:+.1f})" if "accuracy_before" in r else "n/a (no data)")
        lines.append(f"| {r['model']} | {r['method']} | {r['size_before_bytes'] / 1e6:.2f} → "
                     f"{r['size_after_bytes'] / 1e6:.2f} | {r['latency_ms_before']:.3f} → "
                     f"{r['latency_ms_after']:.3f} | {acc} | "
                     + (f"{100 * r['top1_agreement']:.1f} % |" if "top1_agreement" in r else "n/a |"))
    table = "\n".join(lines)
    print(f"\nSimpleCNN trained {args.epochs} epochs on mnist5k in {train_s:.0f} s ({platform.processor() or 'cpu'}, "
          f"{torch.get_num_threads()} torch threads)\n")
    print(table)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "quantize_simplecnn.json").write_text(json.dumps({"epochs": args.epochs, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
