"""The EfficientNet architecture definition and timm's scaling rules, in plain Python (no framework import).

The torch builder hands ``ARCH_DEF`` to timm's own ``decode_arch_def``; the Keras builder walks ``plan(...)``,
which reproduces timm's channel rounding (``round_channels`` / ``make_divisible``), depth scaling (``ceil``),
first-block-only strides, expansion width and squeeze-excite width, so one config drives both frameworks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# timm's _gen_efficientnet: one block definition per stage (block type, repeats, kernel, stride, expansion,
# output channels, squeeze-excite ratio).
ARCH_DEF = [
    ["ds_r1_k3_s1_e1_c16_se0.25"],
    ["ir_r2_k3_s2_e6_c24_se0.25"],
    ["ir_r2_k5_s2_e6_c40_se0.25"],
    ["ir_r3_k3_s2_e6_c80_se0.25"],
    ["ir_r3_k5_s1_e6_c112_se0.25"],
    ["ir_r4_k5_s2_e6_c192_se0.25"],
    ["ir_r1_k3_s1_e6_c320_se0.25"],
]
STEM_SIZE = 32
NUM_FEATURES = 1280

_DEFAULTS = {
    "channel_multiplier": 1.0,
    "depth_multiplier": 1.0,
    "channel_divisor": 8,
    "drop_rate": 0.0,
    "drop_path_rate": 0.0,
}


@dataclass(frozen=True)
class Options:
    channel_multiplier: float
    depth_multiplier: float
    channel_divisor: int
    drop_rate: float
    drop_path_rate: float


def options(config: Mapping[str, Any]) -> Options:
    unknown = sorted(set(config) - set(_DEFAULTS))
    if unknown:
        raise ValueError(f"efficientnet: unknown config keys {unknown}; known keys: {sorted(_DEFAULTS)}")
    cfg = {**_DEFAULTS, **config}
    return Options(float(cfg["channel_multiplier"]), float(cfg["depth_multiplier"]), int(cfg["channel_divisor"]),
                   float(cfg["drop_rate"]), float(cfg["drop_path_rate"]))


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """timm.layers.make_divisible."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v


def round_channels(channels: int, multiplier: float = 1.0, divisor: int = 8) -> int:
    """timm's round_channels (channel_min None, round_limit 0.9)."""
    if not multiplier:
        return channels
    return make_divisible(channels * multiplier, divisor)


@dataclass(frozen=True)
class Block:
    """One block of the trunk, named ``blocks.<stage>.<index>`` like timm's module path."""

    stage: int
    index: int
    kind: str  # "ds" (DepthwiseSeparableConv) or "ir" (InvertedResidual)
    in_chs: int
    mid_chs: int  # width of the depthwise conv (in_chs for "ds")
    out_chs: int
    kernel: int
    stride: int
    se_chs: int  # squeeze-excite reduced width (0: no squeeze-excite)
    skip: bool
    drop_path: float

    @property
    def name(self) -> str:
        return f"blocks.{self.stage}.{self.index}"


def _decode(block_str: str) -> tuple[dict[str, Any], int]:
    kind, *ops = block_str.split("_")
    if kind not in ("ds", "ir"):
        raise ValueError(f"unsupported block type {kind!r}")
    opts: dict[str, str] = {}
    noskip = False
    for op in ops:
        if op == "noskip":
            noskip = True
            continue
        key, value = re.split(r"(\d.*)", op)[:2]
        opts[key] = value
    args = dict(kind=kind, out_chs=int(opts["c"]), stride=int(opts["s"]), kernel=int(opts["k"]),
                exp_ratio=float(opts["e"]) if kind == "ir" else None, se_ratio=float(opts.get("se", 0.0)),
                noskip=noskip)
    return args, int(opts["r"])


def _scale_depth(repeats: list[int], depth_multiplier: float) -> list[int]:
    """timm's _scale_stage_depth with depth_trunc='ceil'."""
    num_repeat = sum(repeats)
    num_scaled = int(math.ceil(num_repeat * depth_multiplier))
    scaled = []
    for r in repeats[::-1]:
        rs = max(1, round(r / num_repeat * num_scaled))
        scaled.append(rs)
        num_repeat -= r
        num_scaled -= rs
    return scaled[::-1]


def stem_size(opts: Options) -> int:
    return round_channels(STEM_SIZE, opts.channel_multiplier, opts.channel_divisor)


def num_features(opts: Options) -> int:
    return round_channels(NUM_FEATURES, opts.channel_multiplier, opts.channel_divisor)


def plan(opts: Options) -> list[Block]:
    """Every trunk block, in order, with the widths timm's EfficientNetBuilder gives them."""
    stages = []
    for block_strings in ARCH_DEF:
        decoded = [_decode(s) for s in block_strings]
        counts = _scale_depth([r for _, r in decoded], opts.depth_multiplier)
        stages.append([args for (args, _), n in zip(decoded, counts, strict=True) for _ in range(n)])
    total = sum(len(s) for s in stages)
    in_chs = stem_size(opts)
    blocks: list[Block] = []
    for stage_idx, stage in enumerate(stages):
        for idx, args in enumerate(stage):
            stride = args["stride"] if idx == 0 else 1
            out_chs = round_channels(args["out_chs"], opts.channel_multiplier, opts.channel_divisor)
            if args["kind"] == "ir":
                mid_chs = make_divisible(in_chs * args["exp_ratio"])
                se_ratio = args["se_ratio"] / args["exp_ratio"]  # timm: se width from the block input
            else:
                mid_chs = in_chs
                se_ratio = args["se_ratio"]
            se_chs = round(mid_chs * se_ratio) if se_ratio else 0
            blocks.append(Block(
                stage=stage_idx, index=idx, kind=args["kind"], in_chs=in_chs, mid_chs=mid_chs, out_chs=out_chs,
                kernel=args["kernel"], stride=stride, se_chs=se_chs,
                skip=stride == 1 and in_chs == out_chs and not args["noskip"],
                drop_path=opts.drop_path_rate * len(blocks) / total,
            ))
            in_chs = out_chs
    return blocks
