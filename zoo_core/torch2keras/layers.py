"""The zoo's serialisable Keras layers for converted graphs: an op from the fixed table, a parameter, a constant.

All are registered under the ``zoo`` package so a stored graph loads with ``keras.saving`` in safe mode.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from ..backends.keras_layers import BatchNorm  # noqa: F401  (registered; used by emitted graphs)
from ..backends.keras_weights import Binding
from ..frameworks import import_keras
from .ops import OPS

keras = import_keras()
ops = keras.ops


@keras.saving.register_keras_serializable(package="zoo")
class TorchOp(keras.layers.Layer):
    """One core ATen op (or a fused few) written with keras.ops; ``fn`` names an entry of ``ops.OPS``."""

    def __init__(self, fn: str, attrs: dict | None = None, aten: str = "", **kwargs: Any):
        super().__init__(**kwargs)
        if fn not in OPS:
            raise ValueError(f"unknown zoo op {fn!r}")
        self.fn, self.attrs, self.aten = fn, dict(attrs or {}), aten

    def call(self, inputs: Any) -> Any:
        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        return OPS[self.fn](xs, self.attrs)

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": self.fn, "attrs": self.attrs, "aten": self.aten}


@keras.saving.register_keras_serializable(package="zoo")
class Parameter(keras.layers.Layer):
    """A torch parameter or buffer used by ops other than Conv/Dense/norm layers (cls_token, layer-scale gamma)."""

    def __init__(self, key: str, shape: tuple[int, ...], trainable_param: bool = True, dtype_name: str = "float32",
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.key, self.param_shape = key, tuple(shape)
        self.trainable_param, self.dtype_name = trainable_param, dtype_name
        self.value = self.add_weight(name=key.replace(".", "_"), shape=self.param_shape, dtype=dtype_name,
                                     initializer="zeros", trainable=trainable_param)

    def call(self, anchor: Any) -> Any:
        return ops.convert_to_tensor(self.value)

    def compute_output_spec(self, anchor: Any) -> Any:
        return keras.KerasTensor(self.param_shape, dtype=self.dtype_name)

    def zoo_bindings(self) -> list[Binding]:
        return [Binding(self.key, self.value)]

    def get_config(self) -> dict:
        return {**super().get_config(), "key": self.key, "shape": list(self.param_shape),
                "trainable_param": self.trainable_param, "dtype_name": self.dtype_name}


@keras.saving.register_keras_serializable(package="zoo")
class Aliases(keras.layers.Layer):
    """The input passed through unchanged, carrying the checkpoint names of shared parameters: a tensor that the
    torch model holds under two module paths (CoaT's cpe1 is also serial_blocks1.*.cpe) is one Keras weight under
    its traced name; ``aliases`` maps each other name to it, so loading accepts and saving writes both (as torch's
    state_dict does)."""

    def __init__(self, aliases: dict[str, str], **kwargs: Any):
        super().__init__(**kwargs)
        self.aliases = dict(aliases)

    def call(self, x: Any) -> Any:
        return x

    def compute_output_spec(self, x: Any) -> Any:
        return keras.KerasTensor(x.shape, dtype=x.dtype)

    def zoo_aliases(self) -> dict[str, str]:
        return self.aliases

    def get_config(self) -> dict:
        return {**super().get_config(), "aliases": self.aliases}


@keras.saving.register_keras_serializable(package="zoo")
class Constant(keras.layers.Layer):
    """A tensor constant of the graph that is not a checkpoint tensor (an index table, a mask), stored in the config."""

    def __init__(self, data: str, shape: tuple[int, ...], dtype_name: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.data, self.const_shape, self.dtype_name = data, tuple(shape), dtype_name
        self.array = np.frombuffer(base64.b64decode(data), dtype=np.dtype(dtype_name)).reshape(self.const_shape)

    @classmethod
    def of(cls, array: np.ndarray, name: str) -> Constant:
        array = np.ascontiguousarray(array)
        return cls(base64.b64encode(array.tobytes()).decode(), array.shape, str(array.dtype), name=name)

    def call(self, anchor: Any) -> Any:
        return ops.convert_to_tensor(self.array)

    def compute_output_spec(self, anchor: Any) -> Any:
        return keras.KerasTensor(self.const_shape, dtype=self.dtype_name)

    def get_config(self) -> dict:
        return {**super().get_config(), "data": self.data, "shape": list(self.const_shape),
                "dtype_name": self.dtype_name}


@keras.saving.register_keras_serializable(package="zoo")
class DropPath(keras.layers.Layer):
    """Stochastic depth as timm's drop_path: drop whole samples with probability ``rate`` in training, scaled."""

    def __init__(self, rate: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.seed_generator = keras.random.SeedGenerator(0)

    def call(self, x: Any, training: bool | None = None) -> Any:
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator))
        return x * mask / keep

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate}


@keras.saving.register_keras_serializable(package="zoo")
class GroupNorm(keras.layers.Layer):
    """torch.nn.GroupNorm over the channel axis ``axis``, with torch's weight/bias names."""

    def __init__(self, groups: int, channels: int, epsilon: float = 1e-5, axis: int = -1, affine: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.groups, self.channels, self.epsilon, self.axis, self.affine = groups, channels, epsilon, axis, affine
        if affine:
            self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones")
            self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, x: Any) -> Any:
        out = OPS["group_norm"]([x], {"axis": self.axis, "groups": self.groups, "eps": self.epsilon})
        if not self.affine:
            return out
        shape = [1] * len(x.shape)
        shape[self.axis] = self.channels
        return out * ops.reshape(self.gamma, shape) + ops.reshape(self.beta, shape)

    def zoo_bindings(self) -> list[Binding]:
        if not self.affine:
            return []
        return [Binding(f"{self.name}.weight", self.gamma), Binding(f"{self.name}.bias", self.beta)]

    def get_config(self) -> dict:
        return {**super().get_config(), "groups": self.groups, "channels": self.channels, "epsilon": self.epsilon,
                "axis": self.axis, "affine": self.affine}
