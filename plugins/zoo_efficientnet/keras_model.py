"""EfficientNet in Keras (NHWC), every weight layer named after the timm module path it mirrors.

Layout per block, as in timm: DepthwiseSeparableConv (``conv_dw, bn1+SiLU, se, conv_pw, bn2``) or
InvertedResidual (``conv_pw, bn1+SiLU, conv_dw, bn2+SiLU, se, conv_pwl, bn3``), plus the input when the stride is 1
and the width is unchanged. timm's efficientnet_b0 pads symmetrically (k//2), so stride-2 convs pad explicitly.
"""

from __future__ import annotations

from zoo_core import BuildSpec
from zoo_core.backends.keras_layers import BatchNorm, conv2d, depthwise_conv2d, keras

from . import arch

L = keras.layers


def _bn(x, name: str, act: bool = True):
    x = BatchNorm(name=name)(x)
    if act:
        x = L.Activation("silu", name=f"{name}.act")(x)
    return x


def _squeeze_excite(x, channels: int, reduced: int, name: str):
    """timm's SqueezeExcite: x * sigmoid(conv_expand(SiLU(conv_reduce(mean_hw(x)))))."""
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}.pool")(x)
    s = conv2d(s, reduced, 1, name=f"{name}.conv_reduce", bias=True)
    s = L.Activation("silu", name=f"{name}.act1")(s)
    s = conv2d(s, channels, 1, name=f"{name}.conv_expand", bias=True)
    s = L.Activation("sigmoid", name=f"{name}.gate")(s)
    return L.Multiply(name=f"{name}.mul")([x, s])


def _block(x, b: arch.Block):
    p = b.name
    shortcut = x
    if b.kind == "ds":
        x = depthwise_conv2d(x, b.kernel, b.stride, name=f"{p}.conv_dw")
        x = _bn(x, f"{p}.bn1")
        if b.se_chs:
            x = _squeeze_excite(x, b.mid_chs, b.se_chs, f"{p}.se")
        x = conv2d(x, b.out_chs, 1, name=f"{p}.conv_pw")
        x = _bn(x, f"{p}.bn2", act=False)
    else:
        x = conv2d(x, b.mid_chs, 1, name=f"{p}.conv_pw")
        x = _bn(x, f"{p}.bn1")
        x = depthwise_conv2d(x, b.kernel, b.stride, name=f"{p}.conv_dw")
        x = _bn(x, f"{p}.bn2")
        if b.se_chs:
            x = _squeeze_excite(x, b.mid_chs, b.se_chs, f"{p}.se")
        x = conv2d(x, b.out_chs, 1, name=f"{p}.conv_pwl")
        x = _bn(x, f"{p}.bn3", act=False)
    if b.skip:
        if b.drop_path > 0:  # timm's DropPath: drop whole samples, scale by 1/keep; identity at inference
            x = L.Dropout(b.drop_path, noise_shape=(None, 1, 1, 1), name=f"{p}.drop_path")(x)
        x = L.Add(name=f"{p}.add")([x, shortcut])
    return x


def build(spec: BuildSpec):
    opts = arch.options(spec.config)
    h, w = spec.input_size
    inputs = keras.Input((None, None, spec.in_chans), name="pixels")  # any size, as the torch model
    x = conv2d(inputs, arch.stem_size(opts), 3, 2, name="conv_stem")
    x = _bn(x, "bn1")
    for b in arch.plan(opts):
        x = _block(x, b)
    x = conv2d(x, arch.num_features(opts), 1, name="conv_head")
    x = _bn(x, "bn2")
    x = L.GlobalAveragePooling2D(name="global_pool")(x)
    if opts.drop_rate > 0:
        x = L.Dropout(opts.drop_rate, name="head_drop")(x)
    if spec.num_classes > 0:
        x = L.Dense(spec.num_classes, name="classifier")(x)
    return keras.Model(inputs, x, name=spec.name)
