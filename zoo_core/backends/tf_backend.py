"""TensorFlow / Keras 3 backend: import, build, count, predict, weights. Keras models take NHWC input."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any

import numpy as np

log = logging.getLogger("zoo.tf")


def import_tensorflow():
    """Import TensorFlow safely.

    Importing triton after TensorFlow 2.21 segfaults (tensorflow#124205); triton first is fine. So triton, when
    installed, is imported first. Also selects the TensorFlow backend of Keras and quiets TF's C++ start-up logs.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" not in sys.modules and "triton" not in sys.modules:
        try:
            if importlib.util.find_spec("triton") is not None:
                import triton  # noqa: F401
        except Exception as exc:  # a broken triton only matters to torch.compile
            log.debug("triton pre-import failed: %s", exc)
    import tensorflow as tf

    return tf


def import_keras():
    import_tensorflow()
    import keras

    if keras.backend.backend() != "tensorflow":
        from ..errors import ZooError

        raise ZooError(
            f"Keras is running on the {keras.backend.backend()!r} backend; the zoo's Keras models need "
            "TensorFlow: set KERAS_BACKEND=tensorflow before importing keras"
        )
    return keras


import_framework = import_tensorflow


def is_model(obj: Any) -> bool:
    return "keras" in sys.modules and isinstance(obj, sys.modules["keras"].Model)


_STATS = ("moving_mean", "moving_variance", "num_batches_tracked")


def count_params(model) -> int:
    """Learnable parameters (trainable or frozen), not BatchNorm statistics: the same count torch reports."""
    return int(sum(int(np.prod(w.shape)) for w in model.weights if not w.path.endswith(_STATS)))


def predict(model, x: np.ndarray) -> np.ndarray:
    """Logits for an NHWC float batch, in inference mode."""
    tf = import_tensorflow()
    return np.asarray(model(tf.convert_to_tensor(x, dtype=tf.float32), training=False))


def to_canonical(model) -> dict[str, np.ndarray]:
    from .keras_weights import to_canonical as convert

    return convert(model)


def from_canonical(model, tensors: dict[str, np.ndarray], strict: bool = True) -> tuple[list[str], list[str]]:
    from .keras_weights import from_canonical as convert

    return convert(model, tensors, strict=strict)


def seed(value: int) -> None:
    keras = import_keras()
    keras.utils.set_random_seed(value)


def input_layout() -> str:
    return "NHWC"
