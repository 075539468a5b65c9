"""ViT in PyTorch: timm's ``VisionTransformer`` with the settings of timm's ``vit_*_patch16_224`` models."""

from __future__ import annotations

from zoo_core import BuildSpec
from zoo_core.frameworks import import_torch

import_torch()  # before timm, which may import triton (crashes if TensorFlow came first)

from timm.models.vision_transformer import VisionTransformer  # noqa: E402


def build(spec: BuildSpec) -> VisionTransformer:
    cfg = spec.config
    return VisionTransformer(
        img_size=tuple(spec.input_size),
        patch_size=int(cfg.get("patch_size", 16)),
        in_chans=spec.in_chans,
        num_classes=spec.num_classes,
        global_pool="token",
        embed_dim=int(cfg.get("embed_dim", 192)),
        depth=int(cfg.get("depth", 12)),
        num_heads=int(cfg.get("num_heads", 3)),
        mlp_ratio=float(cfg.get("mlp_ratio", 4.0)),
        qkv_bias=bool(cfg.get("qkv_bias", True)),
        class_token=True,
    )
