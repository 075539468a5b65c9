"""SimpleCNN in Keras, layer names equal to the torch module paths (``blocks.0.conv``, ``fc1``)."""

from __future__ import annotations

from zoo_core import BuildSpec
from zoo_core.backends.keras_layers import BatchNorm, conv2d, keras, max_pool, nchw_flatten


def build(spec: BuildSpec):
    cfg = spec.config
    widths = tuple(cfg.get("widths", (32, 64)))
    h, w = spec.input_size
    if min(h, w) >> len(widths) < 1:
        raise ValueError(f"input_size {tuple(spec.input_size)} is too small for {len(widths)} pooling blocks")
    inputs = keras.Input((h, w, spec.in_chans), name="pixels")
    x = inputs
    for i, width in enumerate(widths):
        x = conv2d(x, width, 3, name=f"blocks.{i}.conv")
        x = BatchNorm(name=f"blocks.{i}.bn")(x)
        x = keras.layers.ReLU(name=f"blocks.{i}.act")(x)
        x = max_pool(x, 2, 2, name=f"blocks.{i}.pool")
    x = nchw_flatten(x, name="flatten")
    x = keras.layers.Dense(int(cfg.get("hidden", 128)), activation="relu", name="fc1")(x)
    x = keras.layers.Dropout(float(cfg.get("dropout", 0.25)), name="drop")(x)
    outputs = keras.layers.Dense(spec.num_classes, name="fc2")(x)
    return keras.Model(inputs, outputs, name=spec.name)
