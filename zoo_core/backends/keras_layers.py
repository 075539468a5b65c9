"""Keras building blocks that match PyTorch numerics, for hand-written Keras models named after torch module paths.

Rules (each one, done wrong, keeps argmax on random weights but moves logits by 1e-2..3e-1):
- stride-2 convs, depthwise convs and pools pad explicitly by k//2 then use "valid" (TF's "same" pads asymmetrically);
- BatchNorm epsilon 1e-5, momentum 0.9 (torch's 0.1); LayerNorm epsilon as the torch model has it;
- GELU written with erf (exact, and exportable to ONNX);
- NHWC -> NCHW before any Flatten -> Dense, so dense weights keep torch's order.

Import this module only inside builders: it imports Keras.
"""

from __future__ import annotations

import math

from ..frameworks import import_keras

keras = import_keras()
ops = keras.ops


@keras.saving.register_keras_serializable(package="zoo")
class BatchNorm(keras.layers.BatchNormalization):
    """BatchNormalization with torch's defaults and a ``num_batches_tracked`` counter, so checkpoints round-trip."""

    def __init__(self, epsilon: float = 1e-5, momentum: float = 0.9, **kwargs):
        super().__init__(epsilon=epsilon, momentum=momentum, **kwargs)

    def build(self, input_shape):
        super().build(input_shape)
        self.num_batches_tracked = self.add_weight(
            name="num_batches_tracked", shape=(), dtype="int64", initializer="zeros", trainable=False,
            aggregation="only_first_replica",
        )

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            self.num_batches_tracked.assign_add(ops.cast(1, "int64"))
        return super().call(inputs, training=training, mask=mask)


@keras.saving.register_keras_serializable(package="zoo")
class Gelu(keras.layers.Layer):
    """Exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))), as torch.nn.GELU() computes it."""

    def call(self, x):
        return x * 0.5 * (1.0 + ops.erf(x * (1.0 / math.sqrt(2.0))))


def _torch_padding(x, kernel: int, stride: int, name: str):
    """Pad like torch padding=kernel//2: explicit zeros, then "valid" when strided ("same" pads asymmetrically)."""
    pad = kernel // 2
    if stride > 1 and pad:
        return keras.layers.ZeroPadding2D(pad, name=f"{name}.pad")(x), "valid"
    return x, "same" if pad else "valid"


def conv2d(x, filters: int, kernel: int, stride: int = 1, *, name: str, groups: int = 1, bias: bool = False):
    """A torch-equivalent Conv2d(kernel, stride, padding=kernel//2) in NHWC."""
    x, padding = _torch_padding(x, kernel, stride, name)
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, groups=groups, use_bias=bias, name=name
    )(x)


def depthwise_conv2d(x, kernel: int, stride: int = 1, *, name: str, bias: bool = False):
    """A torch-equivalent depthwise Conv2d(C, C, kernel, stride, padding=kernel//2, groups=C) in NHWC."""
    x, padding = _torch_padding(x, kernel, stride, name)
    return keras.layers.DepthwiseConv2D(kernel, strides=stride, padding=padding, use_bias=bias, name=name)(x)


def max_pool(x, kernel: int, stride: int, *, name: str, pad: int = 0):
    """torch.nn.MaxPool2d(kernel, stride, padding=pad). Zero padding equals torch's -inf padding after a ReLU."""
    if pad:
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}.pad")(x)
    return keras.layers.MaxPooling2D(kernel, strides=stride, padding="valid", name=name)(x)


def nchw_flatten(x, *, name: str):
    """Flatten in torch's channel-first order, so a following Dense matches torch's Linear weights."""
    x = keras.layers.Permute((3, 1, 2), name=f"{name}.to_nchw")(x)
    return keras.layers.Flatten(name=name)(x)
