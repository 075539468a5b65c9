"""Accuracy, time and peak memory of training SimpleCNN on mnist5k (80/20 split, seed 0), 5 epochs, in each
framework.

Each framework runs in its own fresh process (so peak memory is that framework's alone) through the public API
(`zoo.load`, `zoo.finetune`, `zoo.evaluate`). Prints a markdown table and writes
benchmarks/results/mnist_simplecnn.json; the runs themselves go to benchmarks/out/.

    .venv/bin/python benchmarks/accuracy_mnist.py [--epochs 5] [--frameworks torch,tf]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_one(framework: str, epochs: int, out: Path) -> dict:
    """Train and evaluate in this process; returns the figures."""
    if framework == "tf":
        import torch  # noqa: F401  (torch before TensorFlow in one process)
    t0 = time.perf_counter()
    import zoo_core as zoo

    data = zoo.data.builtin("mnist5k", split=(0.8, 0.0, 0.2), seed=0)
    zoo.training.seed_everything(0, framework)
    model = zoo.load("simplecnn", framework, num_classes=data.num_classes)
    history = zoo.finetune(model, data, epochs=epochs, seed=0, out=out, progress=False)
    report = zoo.evaluate(model, data.test, out=out)
    return {
        "framework": framework,
        "epochs": epochs,
        "seconds_per_epoch": sorted(history["seconds"])[len(history["seconds"]) // 2],
        "first_epoch_seconds": history["seconds"][0],
        "images_per_second": sorted(history["images_per_second"])[len(history["seconds"]) // 2],
        "test_accuracy": report["accuracy"],
        "test_n": report["n"],
        "wall_seconds": time.perf_counter() - t0,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--frameworks", default="torch,tf")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)
    if args.one:
        print(json.dumps(run_one(args.one, args.epochs, HERE / "out" / f"mnist_simplecnn_{args.one}")))
        return 0
    rows = []
    for fw in args.frameworks.split(","):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run([sys.executable, __file__, "--one", fw, "--epochs", str(args.epochs), "--out", str(out)],
                              capture_output=True, text=True, env=env)
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            return proc.returncode
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "mnist_simplecnn.json").write_text(json.dumps({"machine": machine, "runs": rows}, indent=2) + "\n")
    print(f"SimpleCNN on mnist5k (4,000 train / 1,000 test, seed 0), {args.epochs} epochs, batch 64, AdamW 1e-3 "
          f"cosine; {machine}\n")
    print("| framework | s/epoch (median) | images/s | test accuracy | peak RSS | whole run |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['framework']} | {r['seconds_per_epoch']:.1f} s | {r['images_per_second']:.0f} | "
              f"{r['test_accuracy'] * 100:.1f} % | {r['peak_rss_mib']:.0f} MiB | {r['wall_seconds']:.0f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
