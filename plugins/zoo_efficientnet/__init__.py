"""EfficientNet (B0..B8 family, timm layout with symmetric padding) in PyTorch (timm) and Keras.

Config: ``channel_multiplier`` and ``depth_multiplier`` (B0: 1.0, 1.0; B1: 1.0, 1.1; B2: 1.1, 1.2; B3: 1.2, 1.4),
optional ``channel_divisor`` (8), ``drop_rate`` (dropout before the classifier, 0.0) and ``drop_path_rate``
(stochastic depth, 0.0). Canonical weight names are timm's ``EfficientNet`` state_dict.
"""

from __future__ import annotations

from pathlib import Path

import zoo_core

STAGES = ("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head")

# (channel_multiplier, depth_multiplier) -> timm model name
TIMM_NAMES = {(1.0, 1.0): "efficientnet_b0", (1.0, 1.1): "efficientnet_b1", (1.1, 1.2): "efficientnet_b2",
              (1.2, 1.4): "efficientnet_b3", (1.4, 1.8): "efficientnet_b4"}


def timm_config(spec: zoo_core.BuildSpec) -> dict | None:
    """timm's model name and arguments for this config, so timm.create_model("local-dir:...") reads checkpoints."""
    key = (float(spec.config.get("channel_multiplier", 1.0)), float(spec.config.get("depth_multiplier", 1.0)))
    name = TIMM_NAMES.get(key)
    return {"architecture": name, "model_args": {"in_chans": spec.in_chans}} if name else None


@zoo_core.hookimpl
def register_architectures(register):
    patterns = {"stem": ("conv_stem.*", "bn1.*")}
    patterns.update({f"stage{i + 1}": (f"blocks.{i}.*",) for i in range(7)})
    patterns["head"] = ("conv_head.*", "bn2.*", "classifier.*")
    register(
        zoo_core.Architecture(
            name="efficientnet",
            builders={"torch": "zoo_efficientnet.torch_model:build", "tf": "zoo_efficientnet.keras_model:build"},
            stages=STAGES,
            stage_patterns=patterns,
            description="EfficientNet (MBConv + squeeze-excite, compound scaling), timm layout",
            timm=timm_config,
        )
    )


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("registry.yaml")]
