"""Test helpers: run the zoo in a fresh process, write a real plugin distribution to a folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (the venv's), return the completed process (text mode)."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def run_zoo(*args: str, env: dict[str, str] | None = None, timeout: float = 300,
            cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "zoo_core", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)


def write_distribution(site: Path, dist: str, module: str, source: str, *, entry_name: str | None = None,
                       files: dict[str, str] | None = None, version: str = "1.0") -> Path:
    """Write an installed distribution (dist-info with a ``zoo`` entry point + its module) into ``site``.

    importlib.metadata finds it exactly as it finds a pip-installed package once ``site`` is on sys.path.
    """
    site.mkdir(parents=True, exist_ok=True)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{entry_name or module} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    for name, text in (files or {}).items():
        (site / name).write_text(textwrap.dedent(text))
    return site


def wait_for_epoch(proc: subprocess.Popen, epochs_done: Callable[[], int], epoch: int, timeout: float = 240) -> None:
    """Wait until ``epochs_done()`` reaches ``epoch`` while the training process ``proc`` runs; fail the test
    (killing it on a timeout) if it ends or takes longer."""
    import pytest

    deadline = time.monotonic() + timeout
    while epochs_done() < epoch:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before epoch {epoch}: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no epoch {epoch} within {timeout} s")
        time.sleep(0.02)

