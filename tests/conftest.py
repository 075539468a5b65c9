"""Shared fixtures. Torch is imported before TensorFlow in the test process (see tensorflow#124205)."""

from __future__ import annotations

import contextlib
import os

import pytest

pytest_plugins = ["tests.conftest_hub"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The safe import order for this process: torch and triton first, then TensorFlow (test modules import TensorFlow
# at collection; triton imported after it segfaults, tensorflow#124205).
with contextlib.suppress(ImportError):
    import torch  # noqa: F401
    import triton  # noqa: F401


@pytest.fixture(autouse=True)
def _fresh_zoo_state():
    """Each test sees freshly loaded plugins and catalogue."""
    from zoo_core import plugins

    plugins.reset()
    yield
    plugins.reset()
