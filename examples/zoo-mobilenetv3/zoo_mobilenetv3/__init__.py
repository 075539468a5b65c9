"""zoo-mobilenetv3: MobileNetV3 (small and large, timm layout) for zoo, in PyTorch and Keras.

A third-party zoo plugin: found through the ``zoo`` entry-point group, it registers the ``mobilenetv3``
architecture and ships its named models in ``registry.yaml``. Importing it imports no framework; the builders
(``torch_model:build``, ``keras_model:build``) import theirs when a model is built.

Config keys: ``variant`` ("small" or "large"), ``channel_multiplier`` (1.0; 0.75 is timm's ``*_075``),
``drop_rate`` (dropout before the classifier, 0.0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import zoo_core

from . import arch

__version__ = "0.1.0"

# Input to output; the last is the head. blocks.5 is the final 1x1 conv in the small variant; in the large one
# blocks.5 is the last inverted-residual group and blocks.6 the final 1x1 conv, so "stage6" holds both.
STAGES = ("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "head")
STAGE_PATTERNS = {
    "stem": ("conv_stem.*", "bn1.*"),
    **{f"stage{i + 1}": (f"blocks.{i}.*",) for i in range(5)},
    "stage6": ("blocks.5.*", "blocks.6.*"),
    "head": ("conv_head.*", "classifier.*"),
}


def timm_config(spec: zoo_core.BuildSpec) -> dict[str, Any] | None:
    """timm's model name and arguments, so ``timm.create_model("local-dir:...")`` reads this plugin's checkpoints."""
    opts = arch.options(spec.config)
    name = arch.TIMM_NAMES.get((opts.variant, opts.channel_multiplier))
    return {"architecture": name, "model_args": {"in_chans": spec.in_chans}} if name else None


@zoo_core.hookimpl
def register_architectures(register):
    register(
        zoo_core.Architecture(
            name="mobilenetv3",
            builders={"torch": "zoo_mobilenetv3.torch_model:build", "tf": "zoo_mobilenetv3.keras_model:build"},
            stages=STAGES,
            stage_patterns=STAGE_PATTERNS,
            description="MobileNetV3 small/large (hard-swish, squeeze-excite, efficient head), timm layout",
            timm=timm_config,
        )
    )


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("registry.yaml")]
