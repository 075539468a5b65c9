"""TensorFlow / Keras 3 backend: import, count, predict, canonical weights, freezing. Keras models take NHWC input."""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..frameworks import import_keras, import_tensorflow
from .keras_weights import bindings, leaf_layers
from .keras_weights import from_canonical as _from_canonical
from .keras_weights import to_canonical as _to_canonical

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


def host_tensor(x: np.ndarray) -> Any:
    """A CPU tensor of a numpy array: the array's own memory (DLPack, no copy) when it is C-contiguous, writable
    and 64-byte aligned, as the zoo's loader allocates its batches (TensorFlow aborts on a misaligned one); else
    a copy (``tf.constant``). The array must not be written to while the tensor is in use."""
    tf = import_tensorflow()
    if x.flags.c_contiguous and x.flags.writeable and x.ctypes.data % 64 == 0 and x.dtype != np.bool_:
        return tf.experimental.dlpack.from_dlpack(x.__dlpack__())
    return tf.constant(x)


def to_canonical(model) -> dict[str, np.ndarray]:
    return _to_canonical(model)


def from_canonical(model, tensors: dict[str, np.ndarray], strict: bool = True) -> tuple[list[str], list[str]]:
    return _from_canonical(model, tensors, strict=strict)


def seed(value: int) -> None:
    keras = import_keras()
    keras.utils.set_random_seed(value)


def input_layout() -> str:
    return "NHWC"


_KEY_STATS = (".running_mean", ".running_var", ".num_batches_tracked")
_PREDICTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _layer_keys(model) -> list[tuple[Any, list[tuple[Any, str]]]]:
    """(layer, [(variable, canonical key)]) for every leaf layer that owns weights."""
    key_of = {id(b.variable): b.key for b in bindings(model)}
    out = []
    for layer in leaf_layers(model):
        if layer.weights:
            out.append((layer, [(w, key_of[id(w)]) for w in layer.weights]))
    return out


def set_frozen(model, is_frozen: Callable[[str], bool]) -> None:
    """``layer.trainable = False`` for layers whose tensors are all frozen (a frozen BatchNorm then runs in
    inference mode, keeping its moving statistics); per-variable flags for layers spanning stages."""
    for layer, pairs in _layer_keys(model):
        flags = [is_frozen(k) for _, k in pairs]
        if all(flags):
            layer.trainable = False
            continue
        layer.trainable = True
        if any(flags):
            for (w, key), frozen in zip(pairs, flags, strict=True):
                if not key.endswith(_KEY_STATS):
                    w.trainable = not frozen


def parameters(model) -> list[tuple[str, int, bool]]:
    """(canonical key, size, trainable) of the learnable tensors (BatchNorm statistics excluded)."""
    return [(b.key, int(np.prod(b.variable.shape)), bool(b.variable.trainable)) for b in bindings(model)
            if not b.key.endswith(_KEY_STATS)]


def predictor(model) -> Callable[[Any], Any]:
    """Logits (numpy) for NHWC float batches (numpy) through a ``tf.function`` of ``model(x, training=False)``.

    A compiled graph instead of an eager call: eager Keras runs op by op (30x slower at batch 1 for ResNet-18
    on CPU). Cached per model and dtype policy, so repeated evaluations trace once (twice with a last partial
    batch: ``reduce_retracing`` then generalises the batch dimension)."""
    tf = import_tensorflow()
    policies = tuple(layer.dtype_policy.name for layer in leaf_layers(model))
    cached = _PREDICTORS.get(model)
    if cached is None or cached[0] != policies:
        ref = weakref.ref(model)

        @tf.function(reduce_retracing=True)
        def forward(x):
            return ref()(x, training=False)

        cached = _PREDICTORS[model] = (policies, forward)
    forward = cached[1]
    return lambda x: np.asarray(forward(tf.convert_to_tensor(x, dtype=tf.float32)))
