#!/usr/bin/env bash
# Issue #19: the zoo's tuned loop (--tune auto, a fresh tuning cache so every row runs its trial) against the plain
# loop (framework defaults), per row and pooled, in two short runs: 128 px CNNs (resnet18, efficientnet_b0 and
# convnext_atto, where channels_last gains nothing) on 128 in-memory MNIST images, and 224 px efficientnet_b0 and
# resnet18 on a folder of 64 JPEG photos (2 measured epochs) decoded every epoch (data loading timed on both sides). One CPU thread per
# framework: the development machine is shared, and one thread keeps other tenants from stalling OpenMP barriers.
# Results: benchmarks/results/tuned_128/ and benchmarks/results/tuned_photos224/. Extra arguments go to both runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO="${ZOO:-.venv/bin/zoo}"
export ZOO_CACHE="${ZOO_CACHE:-$(mktemp -d)}"  # a fresh tuning cache: the trial runs and is recorded per row
COMMON=(--frameworks torch,tf --warmup 1 --rounds 1 --latency-reps 5 --startup-repeats 1 --threads 1)
"$ZOO" bench resnet18,efficientnet_b0,convnext_atto --batch 32 --data mnist5k --limit 128 --input-size 128 --epochs 3 "${COMMON[@]}" \
  --out benchmarks/results/tuned_128 "$@"
"$ZOO" bench efficientnet_b0,resnet18 --batch 16 --data photos --limit 64 --epochs 2 "${COMMON[@]}" \
  --out benchmarks/results/tuned_photos224 "$@"
