"""ViT: the Vision Transformer (Dosovitskiy et al., 2020) with a class token, in timm's layout.

Config: ``patch_size``, ``embed_dim``, ``depth``, ``num_heads``; optionally ``mlp_ratio`` (default 4) and
``qkv_bias`` (default true). The torch model is timm's ``VisionTransformer``; its state_dict is the canonical naming.
"""

from __future__ import annotations

from pathlib import Path

import zoo_core

# Stage patterns are static per architecture: they split the 12 blocks of the registered ViTs (depth 12) into four
# equal stages. "blocks.1.*" cannot match "blocks.10.*": the character after the index must be the dot.
STAGE_PATTERNS = {
    "stem": ("patch_embed.*", "cls_token", "pos_embed"),
    "stage1": ("blocks.[0-2].*",),
    "stage2": ("blocks.[3-5].*",),
    "stage3": ("blocks.[6-8].*",),
    "stage4": ("blocks.9.*", "blocks.1[0-1].*"),
    "head": ("norm.*", "head.*"),
}

SIZES = {(192, 12, 3): "tiny", (384, 12, 6): "small", (768, 12, 12): "base", (1024, 24, 16): "large"}


def timm_config(spec: zoo_core.BuildSpec) -> dict | None:
    """timm's model name and arguments for this config, so timm.create_model("local-dir:...") reads checkpoints."""
    cfg = spec.config
    size = SIZES.get((int(cfg["embed_dim"]), int(cfg["depth"]), int(cfg["num_heads"])))
    if size is None or float(cfg.get("mlp_ratio", 4.0)) != 4.0 or not cfg.get("qkv_bias", True):
        return None
    name = f"vit_{size}_patch{int(cfg['patch_size'])}_224"
    return {"architecture": name, "model_args": {"img_size": list(spec.input_size), "in_chans": spec.in_chans}}


@zoo_core.hookimpl
def register_architectures(register):
    register(
        zoo_core.Architecture(
            name="vit",
            builders={"torch": "zoo_vit.torch_model:build", "tf": "zoo_vit.keras_model:build"},
            stages=("stem", "stage1", "stage2", "stage3", "stage4", "head"),
            stage_patterns=STAGE_PATTERNS,
            description="Vision Transformer with a class token (timm layout)",
            timm=timm_config,
        )
    )


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("registry.yaml")]
