"""Framework names, aliases, what to install for each, and the one safe way to import each framework.

Layer 0: importing this module imports no framework."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
import tempfile

from .errors import FrameworkNotInstalledError, UnknownFrameworkError, ZooError

log = logging.getLogger("zoo.frameworks")

FRAMEWORKS: tuple[str, ...] = ("torch", "tf")

ALIASES: dict[str, str] = {
    "torch": "torch",
    "pytorch": "torch",
    "pt": "torch",
    "tf": "tf",
    "tensorflow": "tf",
    "keras": "tf",
}

# framework -> (modules that must be importable, the pip extra that installs them)
REQUIREMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "torch": (("torch", "timm"), "torch"),
    "tf": (("tensorflow", "keras"), "tf"),
}


def canonical_framework(name: str) -> str:
    """Map a framework name or alias (pytorch, tensorflow, keras, ...) to ``torch`` or ``tf``."""
    key = str(name).strip().lower()
    if key not in ALIASES:
        valid = ", ".join(sorted(ALIASES))
        raise UnknownFrameworkError(f"unknown framework {name!r}; valid names are: {valid}")
    return ALIASES[key]


def is_installed(framework: str) -> bool:
    modules, _ = REQUIREMENTS[canonical_framework(framework)]
    return all(importlib.util.find_spec(m) is not None for m in modules)


def require(framework: str) -> str:
    """Return the canonical framework name, or raise with the extra to install if it is missing."""
    fw = canonical_framework(framework)
    modules, extra = REQUIREMENTS[fw]
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise FrameworkNotInstalledError(
            f"framework {fw!r} needs {', '.join(missing)}, which is not installed; "
            f"install it with: pip install 'zoo[{extra}]'"
        )
    return fw


# ------------------------------------------------------------------------------------------ framework imports
# Importing triton (pulled in by timm/torchvision) after TensorFlow 2.21 segfaults (tensorflow#124205); triton
# first is fine. These functions are the only places the zoo imports torch or TensorFlow.


def import_torch():
    """Import torch safely after TensorFlow.

    If TensorFlow is already imported and triton is not, importing triton would segfault. Triton is then hidden
    from this process: torch runs without it (torch.compile's GPU kernels are unavailable in this process; import
    torch before TensorFlow to keep them).
    """
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None  # makes `import triton` fail cleanly and find_spec return None
        log.info("TensorFlow was imported first: triton is disabled in this process to avoid a known crash")
    import torch

    return torch


def import_tensorflow():
    """Import TensorFlow safely: triton first when it is installed. Also selects the TensorFlow backend of Keras
    and quiets TF's C++ start-up logs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" not in sys.modules and "triton" not in sys.modules:
        try:
            if importlib.util.find_spec("triton") is not None:
                import triton  # noqa: F401
        except Exception as exc:  # a broken triton only matters to torch.compile
            log.debug("triton pre-import failed: %s", exc)
    if "tensorflow" in sys.modules or os.environ.get(QUIET_ENV) != "1":
        import tensorflow as tf
    else:
        with _native_noise_filtered():
            import tensorflow as tf
    return tf


# TensorFlow's C++ start-up lines, not the zoo's words: hidden from the zoo command (ZOO_QUIET_NATIVE_LOGS=1)
QUIET_ENV = "ZOO_QUIET_NATIVE_LOGS"
_NATIVE_NOISE = ("All log messages before absl::InitializeLog", "oneDNN custom operations are on",
                 "This TensorFlow binary is optimized", "Unable to register cu", "TF-TRT Warning",
                 "Could not find cuda drivers", "computation_placer", "cuda_dnn", "cuda_fft", "cuda_blas")


@contextlib.contextmanager
def _native_noise_filtered():
    """Capture what native code writes to file descriptor 2 during the block, then pass on every line but
    TensorFlow's known start-up chatter (it bypasses Python's sys.stderr, so only the descriptor catches it)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not any(noise in line for noise in _NATIVE_NOISE):
                    sys.stderr.write(line)
            sys.stderr.flush()


def import_keras():
    """Import Keras 3 on TensorFlow (after :func:`import_tensorflow`)."""
    import_tensorflow()
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ZooError(
            f"Keras is running on the {keras.backend.backend()!r} backend; the zoo's Keras models need "
            "TensorFlow: set KERAS_BACKEND=tensorflow before importing keras"
        )
    return keras
