"""ResNet v1.5 in Keras, every weight layer named after timm's module path (``layer2.0.downsample.0``).

Mirrors ``timm.models.resnet.ResNet`` with its defaults: 7x7/2 stem conv, BN, ReLU, 3x3/2 max pool (padding 1),
four stages of 64/128/256/512 planes (stride 2 from stage 2 on, in the first block's 3x3 conv), a 1x1 conv + BN
projection shortcut where the shape changes, global average pool, fc.
"""

from __future__ import annotations

from zoo_core import BuildSpec
from zoo_core.backends.keras_layers import BatchNorm, conv2d, keras, max_pool

from . import parse_config

CHANNELS = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}


def _shortcut(x, out_chans: int, stride: int, *, name: str):
    if stride == 1 and x.shape[-1] == out_chans:
        return x
    x = conv2d(x, out_chans, 1, stride, name=f"{name}.downsample.0")
    return BatchNorm(name=f"{name}.downsample.1")(x)


def _basic(x, planes: int, stride: int, *, name: str):
    shortcut = _shortcut(x, planes, stride, name=name)
    x = conv2d(x, planes, 3, stride, name=f"{name}.conv1")
    x = BatchNorm(name=f"{name}.bn1")(x)
    x = keras.layers.ReLU(name=f"{name}.act1")(x)
    x = conv2d(x, planes, 3, name=f"{name}.conv2")
    x = BatchNorm(name=f"{name}.bn2")(x)
    x = keras.layers.Add(name=f"{name}.add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}.act2")(x)


def _bottleneck(x, planes: int, stride: int, *, name: str):
    out_chans = planes * EXPANSION["bottleneck"]
    shortcut = _shortcut(x, out_chans, stride, name=name)
    x = conv2d(x, planes, 1, name=f"{name}.conv1")
    x = BatchNorm(name=f"{name}.bn1")(x)
    x = keras.layers.ReLU(name=f"{name}.act1")(x)
    x = conv2d(x, planes, 3, stride, name=f"{name}.conv2")  # v1.5: the stride is in the 3x3 conv
    x = BatchNorm(name=f"{name}.bn2")(x)
    x = keras.layers.ReLU(name=f"{name}.act2")(x)
    x = conv2d(x, out_chans, 1, name=f"{name}.conv3")
    x = BatchNorm(name=f"{name}.bn3")(x)
    x = keras.layers.Add(name=f"{name}.add")([x, shortcut])
    return keras.layers.ReLU(name=f"{name}.act3")(x)


_BLOCK_FNS = {"basic": _basic, "bottleneck": _bottleneck}


def build(spec: BuildSpec):
    block, layers = parse_config(spec.config)
    block_fn = _BLOCK_FNS[block]
    h, w = spec.input_size
    inputs = keras.Input((None, None, spec.in_chans), name="pixels")  # any size, as the torch model
    x = conv2d(inputs, 64, 7, 2, name="conv1")
    x = BatchNorm(name="bn1")(x)
    x = keras.layers.ReLU(name="act1")(x)
    x = max_pool(x, 3, 2, pad=1, name="maxpool")
    for stage, (planes, blocks) in enumerate(zip(CHANNELS, layers, strict=True)):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            x = block_fn(x, planes, stride, name=f"layer{stage + 1}.{i}")
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    if spec.num_classes > 0:
        x = keras.layers.Dense(spec.num_classes, name="fc")(x)
    return keras.Model(inputs, x, name=spec.name)
