"""ViT in Keras, every weight layer named after the timm module path (``blocks.0.attn.qkv``). NHWC input.

Numerics follow timm: LayerNorm epsilon 1e-6, exact (erf) GELU, fused qkv split as (B, N, 3, heads, head_dim),
attention scale head_dim**-0.5, pre-norm residual blocks, class-token pooling after the final norm.
"""

from __future__ import annotations

from zoo_core import BuildSpec
from zoo_core.backends.keras_layers import Gelu, keras, ops
from zoo_core.backends.keras_weights import Binding


@keras.saving.register_keras_serializable(package="zoo_vit")
class ClassTokenPosEmbed(keras.layers.Layer):
    """Prepends the class token and adds the position embedding: timm's ``cls_token`` (1, 1, D) and
    ``pos_embed`` (1, N + 1, D) parameters."""

    def __init__(self, num_tokens: int, embed_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = int(num_tokens)
        self.embed_dim = int(embed_dim)

    def build(self, input_shape):
        d = self.embed_dim
        self.cls_token = self.add_weight(
            name="cls_token", shape=(1, 1, d), initializer=keras.initializers.RandomNormal(stddev=1e-6)
        )
        self.pos_embed = self.add_weight(
            name="pos_embed", shape=(1, self.num_tokens + 1, d),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
        )

    def call(self, x):
        cls = ops.broadcast_to(ops.cast(self.cls_token, x.dtype), (ops.shape(x)[0], 1, self.embed_dim))
        return ops.concatenate([cls, x], axis=1) + ops.cast(self.pos_embed, x.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_tokens + 1, self.embed_dim)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "embed_dim": self.embed_dim}

    def zoo_bindings(self) -> list[Binding]:
        return [Binding("cls_token", self.cls_token), Binding("pos_embed", self.pos_embed)]


@keras.saving.register_keras_serializable(package="zoo_vit")
class ScaledDotProductAttention(keras.layers.Layer):
    """Multi-head attention on a fused qkv tensor (B, N, 3 * D), split as timm does; returns (B, N, D)."""

    def __init__(self, num_heads: int, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)

    def call(self, qkv):
        _, n, d3 = qkv.shape
        d = d3 // 3
        hd = d // self.num_heads
        qkv = ops.reshape(qkv, (-1, n, 3, self.num_heads, hd))
        qkv = ops.transpose(qkv, (2, 0, 3, 1, 4))  # (3, B, heads, N, hd)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ops.matmul(q * (hd**-0.5), ops.transpose(k, (0, 1, 3, 2)))
        attn = ops.softmax(attn, axis=-1)
        x = ops.matmul(attn, v)  # (B, heads, N, hd)
        return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, n, d))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 3)

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


@keras.saving.register_keras_serializable(package="zoo_vit")
class ClassTokenPool(keras.layers.Layer):
    """The class token's features: x[:, 0]."""

    def call(self, x):
        return x[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def _layer_norm(name: str):
    return keras.layers.LayerNormalization(epsilon=1e-6, name=name)


def _block(x, i: int, dim: int, num_heads: int, hidden: int, qkv_bias: bool):
    p = f"blocks.{i}"
    y = _layer_norm(f"{p}.norm1")(x)
    y = keras.layers.Dense(3 * dim, use_bias=qkv_bias, name=f"{p}.attn.qkv")(y)
    y = ScaledDotProductAttention(num_heads, name=f"{p}.attn.sdpa")(y)
    y = keras.layers.Dense(dim, name=f"{p}.attn.proj")(y)
    x = keras.layers.Add(name=f"{p}.add1")([x, y])
    y = _layer_norm(f"{p}.norm2")(x)
    y = keras.layers.Dense(hidden, name=f"{p}.mlp.fc1")(y)
    y = Gelu(name=f"{p}.mlp.act")(y)
    y = keras.layers.Dense(dim, name=f"{p}.mlp.fc2")(y)
    return keras.layers.Add(name=f"{p}.add2")([x, y])


def build(spec: BuildSpec):
    cfg = spec.config
    patch = int(cfg.get("patch_size", 16))
    dim = int(cfg.get("embed_dim", 192))
    depth = int(cfg.get("depth", 12))
    num_heads = int(cfg.get("num_heads", 3))
    hidden = int(dim * float(cfg.get("mlp_ratio", 4.0)))
    qkv_bias = bool(cfg.get("qkv_bias", True))
    if dim % num_heads:
        raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
    h, w = spec.input_size
    gh, gw = h // patch, w // patch
    if gh < 1 or gw < 1:
        raise ValueError(f"input_size {tuple(spec.input_size)} is smaller than patch_size {patch}")

    inputs = keras.Input((h, w, spec.in_chans), name="pixels")
    x = keras.layers.Conv2D(dim, patch, strides=patch, padding="valid", name="patch_embed.proj")(inputs)
    # (B, gh, gw, D) -> (B, gh*gw, D), row-major over the grid like torch's flatten(2).transpose(1, 2)
    x = keras.layers.Reshape((gh * gw, dim), name="patch_embed.flatten")(x)
    x = ClassTokenPosEmbed(gh * gw, dim, name="cls_pos_embed")(x)
    for i in range(depth):
        x = _block(x, i, dim, num_heads, hidden, qkv_bias)
    x = _layer_norm("norm")(x)
    x = ClassTokenPool(name="pool")(x)
    outputs = keras.layers.Dense(spec.num_classes, name="head")(x)
    return keras.Model(inputs, outputs, name=spec.name)
