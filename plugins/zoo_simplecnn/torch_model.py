"""SimpleCNN in PyTorch (the canonical weight naming is this module's state_dict)."""

from __future__ import annotations

import torch
from torch import nn

from zoo_core import BuildSpec


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class SimpleCNN(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 1, input_size=(28, 28), widths=(32, 64),
                 hidden: int = 128, dropout: float = 0.25):
        super().__init__()
        chans = [in_chans, *widths]
        self.blocks = nn.Sequential(*[ConvBlock(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)])
        h, w = input_size
        for _ in widths:
            h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"input_size {tuple(input_size)} is too small for {len(widths)} pooling blocks")
        self.fc1 = nn.Linear(widths[-1] * h * w, hidden)
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.blocks(x), 1)
        return self.fc2(self.drop(self.act(self.fc1(x))))


def build(spec: BuildSpec) -> SimpleCNN:
    cfg = spec.config
    return SimpleCNN(spec.num_classes, spec.in_chans, spec.input_size, tuple(cfg.get("widths", (32, 64))),
                     int(cfg.get("hidden", 128)), float(cfg.get("dropout", 0.25)))
