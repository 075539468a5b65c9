"""ResNet v1.5 (timm layout): a 7x7 stem, four stages of basic or bottleneck blocks, global average pool, fc.

Config: ``block`` ("basic" or "bottleneck") and ``layers`` (blocks per stage, e.g. [2, 2, 2, 2] for ResNet-18).
The canonical weight names are timm's ``ResNet`` state_dict (``conv1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ``fc``); the Keras model names its layers after them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import zoo_core

BLOCKS = ("basic", "bottleneck")
STAGES = ("stem", "stage1", "stage2", "stage3", "stage4", "head")


def parse_config(config: Mapping[str, Any]) -> tuple[str, tuple[int, ...]]:
    """The block type and the blocks per stage of a ResNet config, checked."""
    block = str(config.get("block", "basic")).lower()
    if block not in BLOCKS:
        raise ValueError(f"resnet config: block must be one of {', '.join(BLOCKS)}, got {block!r}")
    layers = tuple(int(n) for n in config.get("layers", (2, 2, 2, 2)))
    if len(layers) != 4 or any(n < 1 for n in layers):
        raise ValueError(f"resnet config: layers must be four positive block counts, got {list(layers)}")
    return block, layers


TIMM_NAMES = {
    ("basic", (2, 2, 2, 2)): "resnet18",
    ("basic", (3, 4, 6, 3)): "resnet34",
    ("bottleneck", (3, 4, 6, 3)): "resnet50",
    ("bottleneck", (3, 4, 23, 3)): "resnet101",
    ("bottleneck", (3, 8, 36, 3)): "resnet152",
}


def timm_config(spec: zoo_core.BuildSpec) -> dict[str, Any] | None:
    """timm's model name and arguments for this config, so timm.create_model("local-dir:...") reads checkpoints."""
    name = TIMM_NAMES.get(parse_config(spec.config))
    return {"architecture": name, "model_args": {"in_chans": spec.in_chans}} if name else None


@zoo_core.hookimpl
def register_architectures(register):
    register(
        zoo_core.Architecture(
            name="resnet",
            builders={"torch": "zoo_resnet.torch_model:build", "tf": "zoo_resnet.keras_model:build"},
            stages=STAGES,
            stage_patterns={
                "stem": ("conv1.*", "bn1.*"),
                "stage1": ("layer1.*",),
                "stage2": ("layer2.*",),
                "stage3": ("layer3.*",),
                "stage4": ("layer4.*",),
                "head": ("fc.*",),
            },
            description="ResNet v1.5 (timm layout) with basic or bottleneck blocks",
            timm=timm_config,
        )
    )


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("registry.yaml")]
