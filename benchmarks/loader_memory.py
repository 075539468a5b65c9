"""Peak memory of a full TensorFlow training epoch on image folders of two sizes (issue #17: the loader's memory
must not grow with the dataset). Runs ``zoo train MODEL --framework tf --data FOLDER --epochs 1`` for each folder
in a fresh process and samples the summed PSS of that process and all its workers every 0.2 s (psutil); writes
benchmarks/results/loader_memory.json.

    python benchmarks/loader_memory.py FOLDER_2000 FOLDER_8000 [--model simplecnn_cifar] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def peak_pss_mb(cmd: list[str]) -> tuple[float, float, int]:
    """(peak summed PSS in MB, wall seconds, exit code) of a command and its descendants."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root, peak = psutil.Process(proc.pid), 0.0
    while proc.poll() is None:
        total = 0
        try:
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += p.memory_full_info().pss
        except psutil.NoSuchProcess:
            break
        peak = max(peak, total / 2**20)
        time.sleep(0.2)
    proc.wait()
    if proc.returncode:
        print(proc.stderr.read().decode()[-2000:], file=sys.stderr)
    return peak, time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--model", default="simplecnn_cifar")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "loader_memory.json"))
    args = ap.parse_args()
    rows = []
    for folder in args.folders:
        images = sum(1 for p in Path(folder).rglob("*") if p.is_file())
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "zoo_core", "train", args.model, "--framework", "tf", "--data", folder,
                   "--split", "1,0,0", "--epochs", "1", "--batch-size", str(args.batch_size), "--num-workers",
                   str(args.workers), "--out", str(Path(tmp) / "run")]
            peak, seconds, code = peak_pss_mb(cmd)
        rows.append({"folder": folder, "images": images, "peak_pss_mb": round(peak, 1), "seconds": round(seconds, 1),
                     "exit_code": code})
        print(rows[-1], flush=True)
    result = {"model": args.model, "framework": "tf", "workers": args.workers, "batch_size": args.batch_size,
              "runs": rows, "difference_mb": round(rows[-1]["peak_pss_mb"] - rows[0]["peak_pss_mb"], 1)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
