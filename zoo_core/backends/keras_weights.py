"""The generic, type-dispatched converter between Keras models and canonical (torch-layout) tensors.

Every Keras layer that holds weights is named after the torch module path it mirrors (``layer1.0.conv1``), so
its canonical keys are ``<layer name>.<torch parameter name>``. Layers of other types declare their own mapping by
defining ``zoo_bindings() -> list[Binding]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..frameworks import import_keras


@dataclass
class Binding:
    """One canonical tensor bound to one Keras variable, with the layout transforms both ways."""

    key: str
    variable: Any
    to_keras: Callable[[np.ndarray], np.ndarray] = lambda a: a
    to_canonical: Callable[[np.ndarray], np.ndarray] = lambda a: a


def _conv(layer) -> list[Binding]:
    # Keras (kh, kw, in/groups, out) <-> torch (out, in/groups, kh, kw)
    b = [Binding(f"{layer.name}.weight", layer.kernel, lambda a: a.transpose(2, 3, 1, 0),
                 lambda a: a.transpose(3, 2, 0, 1))]
    if layer.use_bias:
        b.append(Binding(f"{layer.name}.bias", layer.bias))
    return b


def _depthwise(layer) -> list[Binding]:
    kh, kw, c, m = layer.kernel.shape
    # Keras (kh, kw, C, M) <-> torch (C*M, 1, kh, kw); channel c*M+m in both
    b = [Binding(
        f"{layer.name}.weight", layer.kernel,
        lambda a: a.reshape(c, m, kh, kw).transpose(2, 3, 0, 1),
        lambda a: a.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw),
    )]
    if layer.use_bias:
        b.append(Binding(f"{layer.name}.bias", layer.bias))
    return b


def _dense(layer) -> list[Binding]:
    b = [Binding(f"{layer.name}.weight", layer.kernel, lambda a: a.T, lambda a: a.T)]
    if layer.use_bias:
        b.append(Binding(f"{layer.name}.bias", layer.bias))
    return b


def _batchnorm(layer) -> list[Binding]:
    b = []
    if layer.scale:
        b.append(Binding(f"{layer.name}.weight", layer.gamma))
    if layer.center:
        b.append(Binding(f"{layer.name}.bias", layer.beta))
    b += [Binding(f"{layer.name}.running_mean", layer.moving_mean),
          Binding(f"{layer.name}.running_var", layer.moving_variance)]
    counter = getattr(layer, "num_batches_tracked", None)
    if counter is not None:
        b.append(Binding(f"{layer.name}.num_batches_tracked", counter,
                         lambda a: np.asarray(a, np.int64).reshape(()), lambda a: np.asarray(a, np.int64)))
    return b


def _layernorm(layer) -> list[Binding]:
    b = []
    if layer.scale:
        b.append(Binding(f"{layer.name}.weight", layer.gamma))
    if layer.center:
        b.append(Binding(f"{layer.name}.bias", layer.beta))
    return b


def _dispatch() -> list[tuple[type, Callable[[Any], list[Binding]]]]:
    keras = import_keras()
    L = keras.layers
    return [
        (L.DepthwiseConv2D, _depthwise),
        (L.Conv2D, _conv),
        (L.Dense, _dense),
        (L.BatchNormalization, _batchnorm),
        (L.LayerNormalization, _layernorm),
    ]


def leaf_layers(model) -> Iterator[Any]:
    """Every layer that owns weights directly (models and containers are walked into)."""
    for layer in model.layers:
        if hasattr(layer, "zoo_bindings"):
            yield layer
        elif hasattr(layer, "layers") and layer.layers:
            yield from leaf_layers(layer)
        else:
            yield layer


def bindings(model) -> list[Binding]:
    """All bindings of a model, checked to cover every variable exactly once."""
    table = _dispatch()
    out: list[Binding] = []
    aliases: dict[str, str] = {}
    for layer in leaf_layers(model):
        if hasattr(layer, "zoo_aliases"):
            aliases.update(layer.zoo_aliases())
        if not layer.weights:
            continue
        if hasattr(layer, "zoo_bindings"):
            out.extend(layer.zoo_bindings())
            continue
        for kind, fn in table:
            if isinstance(layer, kind):
                out.extend(fn(layer))
                break
        else:
            raise CheckpointError(
                f"layer {layer.name!r} of type {type(layer).__name__} has weights the converter does not know; "
                "give the layer a zoo_bindings() method that maps its variables to canonical tensors"
            )
    bound = {id(b.variable) for b in out}
    unbound = [w.path for w in model.weights if id(w) not in bound]
    if unbound:
        raise CheckpointError(f"variables with no canonical name: {unbound[:5]}; add them to zoo_bindings()")
    if aliases:  # a shared tensor: the same variable under each of its checkpoint names
        by_key = {b.key: b for b in out}
        out.extend(Binding(alias, by_key[key].variable, by_key[key].to_keras, by_key[key].to_canonical)
                   for alias, key in aliases.items() if key in by_key)
    return out


def to_canonical(model) -> dict[str, np.ndarray]:
    """The model's weights as canonical (torch-layout) numpy arrays."""
    tensors: dict[str, np.ndarray] = {}
    for b in bindings(model):
        value = np.asarray(b.variable.numpy())
        tensors[b.key] = np.array(b.to_canonical(value), order="C")  # 0-d stays 0-d
    return tensors


def from_canonical(model, tensors: dict[str, np.ndarray], strict: bool = True) -> tuple[list[str], list[str]]:
    """Assign canonical tensors to the model. Every shape is checked before anything is written.

    Returns (missing, unexpected) keys; with ``strict`` either being non-empty is an error.
    """
    plan = []
    bs = bindings(model)
    expected = {b.key for b in bs}
    missing = sorted(expected - set(tensors))
    unexpected = sorted(set(tensors) - expected)
    if strict and (missing or unexpected):
        raise CheckpointError.key_mismatch(missing, unexpected)
    for b in bs:
        if b.key not in tensors:
            continue
        value = b.to_keras(np.asarray(tensors[b.key]))
        if tuple(value.shape) != tuple(b.variable.shape):
            canonical_shape = tuple(b.to_canonical(np.zeros(b.variable.shape, np.float32)).shape)
            raise CheckpointError.shape_mismatch(b.key, tuple(np.shape(tensors[b.key])), canonical_shape)
        plan.append((b.variable, value))
    for variable, value in plan:
        variable.assign(value.astype(variable.dtype) if hasattr(value, "astype") else value)
    return missing, unexpected
