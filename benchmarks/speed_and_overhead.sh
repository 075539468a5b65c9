#!/usr/bin/env bash
# Reproduces docs/benchmarks.md: the four built-in architectures at small inputs, both frameworks, batch 32 and 128,
# on this machine's CPU (under 10 minutes on an idle 2-core machine). Results: benchmarks/results/{results.json,
# results.md,throughput.png}. Extra arguments are passed to `zoo bench`: e.g. --threads 1 on a shared machine
# (docs/benchmarks.md was measured without it, on an otherwise idle machine), --epochs 8 --rounds 4 for
# tighter overhead ratios (about 25 minutes), --limit 1024, --input-size 64.
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO="${ZOO:-.venv/bin/zoo}"
exec "$ZOO" bench simplecnn,resnet18,efficientnet_b0,vit_tiny \
  --frameworks torch,tf --batch 32,128 --data mnist5k --limit 512 --input-size 32 \
  --epochs 2 --warmup 1 --rounds 2 --startup-repeats 5 --out benchmarks/results "$@"
