"""MobileNetV3 in plain PyTorch, module paths equal to timm's (``blocks.2.0.se.conv_reduce``).

No timm needed: the canonical weights are this module's ``state_dict``, which is key-for-key and shape-for-shape
timm's ``mobilenetv3_small_100`` / ``mobilenetv3_large_100`` (tests/test_mobilenetv3.py checks, and checks the logits).
"""

from __future__ import annotations

import torch
from torch import nn

from zoo_core import BuildSpec

from . import arch


def _act(kind: str) -> nn.Module:
    return nn.ReLU(inplace=True) if kind == "relu" else nn.Hardswish()


class SqueezeExcite(nn.Module):
    """x * hard_sigmoid(conv_expand(relu(conv_reduce(mean_hw(x)))))."""

    def __init__(self, channels: int, reduced: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * self.gate(s)


def _dw(chs: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(chs, chs, kernel, stride, padding=kernel // 2, groups=chs, bias=False)


class Block(nn.Module):
    """A "ds", "ir" or "cn" block with timm's attribute names for each kind."""

    def __init__(self, b: arch.Block):
        super().__init__()
        self.kind, self.skip = b.kind, b.skip
        if b.kind == "cn":
            self.conv = nn.Conv2d(b.in_chs, b.out_chs, b.kernel, b.stride, padding=b.kernel // 2, bias=False)
            self.bn1 = nn.BatchNorm2d(b.out_chs)
            self.act1 = _act(b.act)
            return
        if b.kind == "ir":
            self.conv_pw = nn.Conv2d(b.in_chs, b.mid_chs, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(b.mid_chs)
            self.act1 = _act(b.act)
            self.conv_dw = _dw(b.mid_chs, b.kernel, b.stride)
            self.bn2 = nn.BatchNorm2d(b.mid_chs)
            self.act2 = _act(b.act)
            self.se = SqueezeExcite(b.mid_chs, b.se_chs) if b.se_chs else nn.Identity()
            self.conv_pwl = nn.Conv2d(b.mid_chs, b.out_chs, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(b.out_chs)
        else:  # "ds"
            self.conv_dw = _dw(b.in_chs, b.kernel, b.stride)
            self.bn1 = nn.BatchNorm2d(b.in_chs)
            self.act1 = _act(b.act)
            self.se = SqueezeExcite(b.in_chs, b.se_chs) if b.se_chs else nn.Identity()
            self.conv_pw = nn.Conv2d(b.in_chs, b.out_chs, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(b.out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "cn":
            return self.act1(self.bn1(self.conv(x)))
        shortcut = x
        if self.kind == "ir":
            x = self.act1(self.bn1(self.conv_pw(x)))
            x = self.act2(self.bn2(self.conv_dw(x)))
            x = self.bn3(self.conv_pwl(self.se(x)))
        else:
            x = self.act1(self.bn1(self.conv_dw(x)))
            x = self.bn2(self.conv_pw(self.se(x)))
        return x + shortcut if self.skip else x


class MobileNetV3(nn.Module):
    """Stem (conv_stem, bn1, hard-swish), blocks, then the "efficient head": pool, conv_head, hard-swish, classifier."""

    def __init__(self, opts: arch.Options, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        stem = arch.stem_size(opts)
        plan = arch.plan(opts)
        self.conv_stem = nn.Conv2d(in_chans, stem, 3, 2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.act1 = nn.Hardswish()
        groups: list[list[Block]] = []
        for b in plan:
            if b.index == 0:
                groups.append([])
            groups[-1].append(Block(b))
        self.blocks = nn.Sequential(*[nn.Sequential(*g) for g in groups])
        features = arch.head_features(opts)
        self.conv_head = nn.Conv2d(plan[-1].out_chs, features, 1, bias=True)
        self.act2 = nn.Hardswish()
        self.drop = nn.Dropout(opts.drop_rate)
        self.classifier = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.act1(self.bn1(self.conv_stem(x))))
        x = self.act2(self.conv_head(x.mean((2, 3), keepdim=True)))
        return self.classifier(self.drop(torch.flatten(x, 1)))


def build(spec: BuildSpec) -> MobileNetV3:
    return MobileNetV3(arch.options(spec.config), num_classes=spec.num_classes, in_chans=spec.in_chans)
