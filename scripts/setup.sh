#!/usr/bin/env bash
# Sets up everything on a fresh machine: .venv in the repo root with the zoo and all extras (torch, tf, hub, data,
# export, serve, track, dev), at the exact versions of constraints.txt, and Debian's chromium + chromium-driver
# (for the page test of `zoo serve`). Needs python3 (3.10+) with pip reaching PyPI, and apt-get as root (or sudo).
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
# Headless Chromium and its WebDriver for the test of `zoo serve`'s page (Debian packages; needs root or sudo).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver; } >"$log" 2>&1; then
      tail -20 "$log"
      echo "setup: apt-get install chromium chromium-driver failed" >&2
      exit 1
    fi
  else
    echo "setup: no apt-get: install chromium and chromedriver yourself for tests/serve/test_page.py" >&2
  fi
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip_install --upgrade "pip>=24"
pip_install -c constraints.txt -e ".[all,dev]"
# The example third-party plugin, installed as a user would install one: it adds MobileNetV3 through its entry point.
pip_install -c constraints.txt -e ./examples/zoo-mobilenetv3
# The example tracker plugin, installed the same way: it records runs in MLflow (ZOO_TRACKERS=tensorboard,mlflow).
pip_install -c constraints.txt -e ./examples/zoo-mlflow
rm -f "$log"
.venv/bin/zoo --version
