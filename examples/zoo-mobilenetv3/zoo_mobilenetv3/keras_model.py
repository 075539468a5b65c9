"""MobileNetV3 in Keras 3 (NHWC), every weight layer named after the torch module path it mirrors.

Named that way, zoo's generic converter maps the weights both ways (Conv2D, DepthwiseConv2D, Dense, BatchNorm), so
this plugin needs no weight adapter. Torch numerics: stride-2 convs pad k//2 explicitly (``conv2d`` and
``depthwise_conv2d`` from ``zoo_core.backends.keras_layers``), BatchNorm epsilon 1e-5, and hard-swish /
hard-sigmoid written as torch defines them (relu6(x + 3) / 6).
"""

from __future__ import annotations

from zoo_core import BuildSpec
from zoo_core.backends.keras_layers import BatchNorm, conv2d, depthwise_conv2d, keras

from . import arch

L = keras.layers
ops = keras.ops


@keras.saving.register_keras_serializable(package="zoo_mobilenetv3")
class HardSwish(L.Layer):
    """torch.nn.Hardswish: x * relu6(x + 3) / 6."""

    def call(self, x):
        return x * ops.relu6(x + 3.0) / 6.0


@keras.saving.register_keras_serializable(package="zoo_mobilenetv3")
class HardSigmoid(L.Layer):
    """torch.nn.Hardsigmoid: relu6(x + 3) / 6."""

    def call(self, x):
        return ops.relu6(x + 3.0) / 6.0


def _act(x, kind: str, name: str):
    return L.ReLU(name=name)(x) if kind == "relu" else HardSwish(name=name)(x)


def _squeeze_excite(x, channels: int, reduced: int, name: str):
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}.pool")(x)
    s = conv2d(s, reduced, 1, name=f"{name}.conv_reduce", bias=True)
    s = L.ReLU(name=f"{name}.act1")(s)
    s = conv2d(s, channels, 1, name=f"{name}.conv_expand", bias=True)
    s = HardSigmoid(name=f"{name}.gate")(s)
    return L.Multiply(name=f"{name}.mul")([x, s])


def _block(x, b: arch.Block):
    p = b.name
    if b.kind == "cn":
        x = conv2d(x, b.out_chs, b.kernel, b.stride, name=f"{p}.conv")
        return _act(BatchNorm(name=f"{p}.bn1")(x), b.act, f"{p}.act1")
    shortcut = x
    if b.kind == "ir":
        x = conv2d(x, b.mid_chs, 1, name=f"{p}.conv_pw")
        x = _act(BatchNorm(name=f"{p}.bn1")(x), b.act, f"{p}.act1")
        x = depthwise_conv2d(x, b.kernel, b.stride, name=f"{p}.conv_dw")
        x = _act(BatchNorm(name=f"{p}.bn2")(x), b.act, f"{p}.act2")
        if b.se_chs:
            x = _squeeze_excite(x, b.mid_chs, b.se_chs, f"{p}.se")
        x = conv2d(x, b.out_chs, 1, name=f"{p}.conv_pwl")
        x = BatchNorm(name=f"{p}.bn3")(x)
    else:  # "ds"
        x = depthwise_conv2d(x, b.kernel, b.stride, name=f"{p}.conv_dw")
        x = _act(BatchNorm(name=f"{p}.bn1")(x), b.act, f"{p}.act1")
        if b.se_chs:
            x = _squeeze_excite(x, b.mid_chs, b.se_chs, f"{p}.se")
        x = conv2d(x, b.out_chs, 1, name=f"{p}.conv_pw")
        x = BatchNorm(name=f"{p}.bn2")(x)
    return L.Add(name=f"{p}.add")([x, shortcut]) if b.skip else x


def build(spec: BuildSpec):
    opts = arch.options(spec.config)
    h, w = spec.input_size
    inputs = keras.Input((None, None, spec.in_chans), name="pixels")  # any size, as the torch model
    x = conv2d(inputs, arch.stem_size(opts), 3, 2, name="conv_stem")
    x = HardSwish(name="act1")(BatchNorm(name="bn1")(x))
    for b in arch.plan(opts):
        x = _block(x, b)
    x = L.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    x = conv2d(x, arch.head_features(opts), 1, name="conv_head", bias=True)
    x = HardSwish(name="act2")(x)
    x = L.Flatten(name="flatten")(x)
    if opts.drop_rate > 0:
        x = L.Dropout(opts.drop_rate, name="drop")(x)
    x = L.Dense(spec.num_classes, name="classifier")(x)
    return keras.Model(inputs, x, name=spec.name)
