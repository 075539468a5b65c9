"""ResNet in PyTorch: timm's ``ResNet`` (v1.5, stride in the 3x3 conv); its state_dict is the canonical naming."""

from __future__ import annotations

from timm.models.resnet import BasicBlock, Bottleneck, ResNet

from zoo_core import BuildSpec

from . import parse_config

_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def build(spec: BuildSpec) -> ResNet:
    block, layers = parse_config(spec.config)
    return ResNet(block=_BLOCKS[block], layers=layers, num_classes=spec.num_classes, in_chans=spec.in_chans)
