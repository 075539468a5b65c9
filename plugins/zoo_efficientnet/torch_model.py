"""EfficientNet in PyTorch: timm's ``EfficientNet`` built as timm's ``_gen_efficientnet`` builds it.

With channel_multiplier = depth_multiplier = 1.0 this is ``timm.create_model("efficientnet_b0")``; its
state_dict is the canonical weight naming.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from zoo_core import BuildSpec
from zoo_core.frameworks import import_torch

from . import arch

if TYPE_CHECKING:
    from timm.models.efficientnet import EfficientNet


def build(spec: BuildSpec) -> EfficientNet:
    import_torch()  # before timm: keeps triton out of a process that imported TensorFlow first
    from timm.models._efficientnet_builder import decode_arch_def, resolve_act_layer, round_channels
    from timm.models.efficientnet import EfficientNet
    from torch import nn

    opts = arch.options(spec.config)
    round_chs_fn = partial(round_channels, multiplier=opts.channel_multiplier, divisor=opts.channel_divisor)
    return EfficientNet(
        block_args=decode_arch_def(arch.ARCH_DEF, opts.depth_multiplier),
        num_classes=spec.num_classes,
        num_features=round_chs_fn(arch.NUM_FEATURES),
        in_chans=spec.in_chans,
        stem_size=arch.STEM_SIZE,
        round_chs_fn=round_chs_fn,
        act_layer=resolve_act_layer({}, "swish"),
        norm_layer=partial(nn.BatchNorm2d),
        drop_rate=opts.drop_rate,
        drop_path_rate=opts.drop_path_rate,
    )
