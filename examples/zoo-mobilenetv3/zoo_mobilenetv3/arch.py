"""The MobileNetV3 block plan in plain Python (no framework import): one config drives both builders.

The block strings and channel rounding are timm's (``timm.models.mobilenetv3._gen_mobilenet_v3``), so the torch
model's ``state_dict`` is timm's ``mobilenetv3_{small,large}_{075,100}`` and timm checkpoints load unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# One entry per block group (``blocks.<i>``): (block type, repeats, kernel, stride, expansion, out channels,
# squeeze-excite ratio, ReLU instead of hard-swish ("nre")). "ds": depthwise separable, "ir": inverted residual,
# "cn": a 1x1 conv + BN + activation.
ARCH_DEFS = {
    "small": [
        ["ds_r1_k3_s2_e1_c16_se0.25_nre"],
        ["ir_r1_k3_s2_e4.5_c24_nre", "ir_r1_k3_s1_e3.67_c24_nre"],
        ["ir_r1_k5_s2_e4_c40_se0.25", "ir_r2_k5_s1_e6_c40_se0.25"],
        ["ir_r2_k5_s1_e3_c48_se0.25"],
        ["ir_r3_k5_s2_e6_c96_se0.25"],
        ["cn_r1_k1_s1_c576"],
    ],
    "large": [
        ["ds_r1_k3_s1_e1_c16_nre"],
        ["ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"],
        ["ir_r3_k5_s2_e3_c40_se0.25_nre"],
        ["ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"],
        ["ir_r2_k3_s1_e6_c112_se0.25"],
        ["ir_r3_k5_s2_e6_c160_se0.25"],
        ["cn_r1_k1_s1_c960"],
    ],
}
HEAD_FEATURES = {"small": 1024, "large": 1280}  # width of conv_head (not scaled by channel_multiplier)
STEM_SIZE = 16

_DEFAULTS: dict[str, Any] = {"variant": "small", "channel_multiplier": 1.0, "drop_rate": 0.0}


@dataclass(frozen=True)
class Options:
    variant: str
    channel_multiplier: float
    drop_rate: float


def options(config: Mapping[str, Any]) -> Options:
    """The checked config of a mobilenetv3 registry entry."""
    unknown = sorted(set(config) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"mobilenetv3: unknown config keys {unknown}; known keys: {sorted(_DEFAULTS)}")
    cfg = {**_DEFAULTS, **config}
    variant = str(cfg["variant"])
    if variant not in ARCH_DEFS:
        raise ValueError(f"mobilenetv3: variant must be one of {sorted(ARCH_DEFS)}, got {variant!r}")
    multiplier = float(cfg["channel_multiplier"])
    if multiplier <= 0:
        raise ValueError(f"mobilenetv3: channel_multiplier must be positive, got {multiplier}")
    return Options(variant, multiplier, float(cfg["drop_rate"]))


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """timm.layers.make_divisible."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


def round_channels(channels: float, multiplier: float = 1.0) -> int:
    return make_divisible(channels * multiplier)


@dataclass(frozen=True)
class Block:
    """One block, named ``blocks.<group>.<index>`` like timm's module path."""

    group: int
    index: int
    kind: str  # "ds", "ir" or "cn"
    in_chs: int
    mid_chs: int  # width of the depthwise conv ("ir"), in_chs ("ds"), out_chs ("cn")
    out_chs: int
    kernel: int
    stride: int
    se_chs: int  # squeeze-excite reduced width; 0 means no squeeze-excite
    act: str  # "relu" or "hard_swish"
    skip: bool

    @property
    def name(self) -> str:
        return f"blocks.{self.group}.{self.index}"


def _decode(block: str) -> tuple[dict[str, Any], int]:
    kind, *ops = block.split("_")
    values: dict[str, str] = {}
    relu = False
    for op in ops:
        if op == "nre":
            relu = True
            continue
        key, value = re.split(r"(\d.*)", op)[:2]
        values[key] = value
    return {"kind": kind, "kernel": int(values["k"]), "stride": int(values["s"]), "out_chs": int(values["c"]),
            "exp": float(values.get("e", 1.0)), "se": float(values.get("se", 0.0)),
            "act": "relu" if relu else "hard_swish"}, int(values["r"])


def stem_size(opts: Options) -> int:
    return STEM_SIZE if opts.channel_multiplier < 0.75 else round_channels(STEM_SIZE, opts.channel_multiplier)


def head_features(opts: Options) -> int:
    return HEAD_FEATURES[opts.variant]


def plan(opts: Options) -> list[Block]:
    """Every block in forward order, with the widths timm's EfficientNetBuilder gives them."""
    blocks: list[Block] = []
    in_chs = stem_size(opts)
    for group, strings in enumerate(ARCH_DEFS[opts.variant]):
        args_list = [args for args, repeats in map(_decode, strings) for _ in range(repeats)]
        for index, args in enumerate(args_list):
            stride = args["stride"] if index == 0 else 1
            out_chs = round_channels(args["out_chs"], opts.channel_multiplier)
            if args["kind"] == "ir":
                mid_chs = make_divisible(in_chs * args["exp"])
            elif args["kind"] == "ds":
                mid_chs = in_chs
            else:
                mid_chs = out_chs
            se_chs = round_channels(mid_chs * args["se"]) if args["se"] else 0
            skip = args["kind"] != "cn" and stride == 1 and in_chs == out_chs
            blocks.append(Block(group, index, args["kind"], in_chs, mid_chs, out_chs, args["kernel"], stride,
                                se_chs, args["act"], skip))
            in_chs = out_chs
    return blocks


TIMM_NAMES = {("small", 0.75): "mobilenetv3_small_075", ("small", 1.0): "mobilenetv3_small_100",
              ("large", 0.75): "mobilenetv3_large_075", ("large", 1.0): "mobilenetv3_large_100"}
