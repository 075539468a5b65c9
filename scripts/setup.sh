#!/usr/bin/env bash
# Sets up everything on a fresh machine: .venv in the repo root with the zoo and all extras (torch, tf, hub, data,
# export, track, dev), at the exact versions of constraints.txt. Needs only python3 (3.10+) with pip reaching PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
log="$(mktemp)"
pip_install() {
  if ! .venv/bin/python -m pip install --quiet "$@" >"$log" 2>&1; then
    grep -v "^WARNING: Location" "$log" | tail -40
    echo "setup: pip install $* failed" >&2
    exit 1
  fi
}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install --upgrade "pip>=24"
pip_install -c constraints.txt -e ".[all,dev]"
# The example third-party plugin, installed as a user would install one: it adds MobileNetV3 through its entry point.
pip_install -c constraints.txt -e ./examples/zoo-mobilenetv3
# The example tracker plugin, installed the same way: it records runs in MLflow (ZOO_TRACKERS=tensorboard,mlflow).
pip_install -c constraints.txt -e ./examples/zoo-mlflow
rm -f "$log"
.venv/bin/zoo --version
