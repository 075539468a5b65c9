"""``timm:NAME`` models: registry entries and architectures made on demand from timm's own model list.

The torch side is ``timm.create_model(NAME)``; the Keras side is generated from it by the converter
(``builders.py``). This module imports no framework at import time (timm is imported when a name is resolved).
"""

from __future__ import annotations

import difflib
import functools
import sys
from typing import Any

from ..architecture import Architecture, BuildSpec
from ..catalog import ModelEntry
from ..errors import ConversionError, UnknownModelError
from ..frameworks import import_torch

PREFIX = "timm:"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def import_timm() -> Any:
    """timm, imported after torch through the torch backend (the TF/triton import-order guard)."""
    if "timm" in sys.modules:
        return sys.modules["timm"]
    try:

        import_torch()
        import timm
    except ImportError:
        raise ConversionError("timm models need torch and timm to be built or converted (pip install 'zoo[torch]'); "
                              "on a TensorFlow-only machine load a checkpoint saved with its Keras graph") from None
    return timm


HUB_OWNER = "timm"  # timm publishes NAME.TAG as the Hub repo timm/NAME.TAG
DROPPED_MODEL_ARGS = ("num_classes", "in_chans", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay")


def model_name(name: str) -> str:
    """The timm model name of ``timm:NAME`` (the pretrained tag after a dot is kept apart by timm itself)."""
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def split_tag(name: str) -> tuple[str, str | None]:
    """``timm:NAME.TAG`` -> (NAME, TAG or None)."""
    base, _, tag = model_name(name).partition(".")
    return base, tag or None


def known_tags(base: str) -> list[str]:
    """The pretrained tags timm knows for a model name."""
    return [n.partition(".")[2] for n in import_timm().list_pretrained(f"{base}.*")]


def hub_repo(name: str) -> str:
    """The Hub repo of a pretrained ``timm:NAME[.TAG]``: ``timm/NAME.TAG``, timm's default tag when none is given."""
    base, tag = split_tag(name)
    if tag is None:
        cfg = _pretrained_cfg(base)
        tag = cfg.get("tag")
        if not tag:
            raise UnknownModelError(f"timm has no pretrained weights for {base!r}: load it with pretrained=False, "
                                    f"or name a tag pushed to the Hub as timm:{base}.TAG")
    return f"{HUB_OWNER}/{base}.{tag}"


def installed() -> bool:
    """True when torch and timm can be imported here (looked up, not imported)."""
    import importlib.util

    try:
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "timm"))
    except (ImportError, ValueError):
        return False


def is_timm_name(name: str) -> bool:
    """True when timm knows ``name`` (importing timm; False when timm is not installed)."""
    try:
        timm = import_timm()
    except ConversionError:
        return False
    return bool(timm.is_model(model_name(name).split(".")[0]))


def check_name(name: str) -> str:
    """The timm model name, or an UnknownModelError suggesting the closest timm names."""
    timm = import_timm()
    base = model_name(name).split(".")[0]
    if not base or not timm.is_model(base):
        close = difflib.get_close_matches(base, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(PREFIX + c for c in close)}?" if close else \
            "; run `zoo list --timm PATTERN` to see timm's names"
        raise UnknownModelError(f"unknown timm model {base!r}{hint}")
    return base


def list_names(pattern: str = "*") -> list[str]:
    """timm's model names matching a wildcard pattern."""
    return list(import_timm().list_models(pattern))


@functools.lru_cache(maxsize=256)
def _pretrained_cfg(name: str) -> dict[str, Any]:
    """timm's pretrained config of ``NAME`` (its default tag) or ``NAME.TAG``; the default one for a tag timm does
    not know (a repo pushed under a new tag)."""
    timm = import_timm()
    try:
        cfg = timm.models.get_pretrained_cfg(name)
    except RuntimeError:  # "Invalid pretrained tag"
        cfg = timm.models.get_pretrained_cfg(name.partition(".")[0])
    return cfg.to_dict() if cfg is not None else {}


def entry(name: str, pretrained_cfg: dict[str, Any] | None = None) -> ModelEntry:
    """The registry entry of ``timm:NAME[.TAG]``: preprocessing from ``pretrained_cfg`` (a Hub repo's) or timm's
    pretrained config of the tag (its default tag when none is given)."""
    base = check_name(name)
    _, tag = split_tag(name)
    cfg = pretrained_cfg if pretrained_cfg is not None else _pretrained_cfg(f"{base}.{tag}" if tag else base)
    c, h, w = cfg.get("input_size", (3, 224, 224))
    interpolation = cfg.get("interpolation", "bicubic")
    mean = tuple(cfg.get("mean", IMAGENET_MEAN))
    return ModelEntry(
        name=PREFIX + base + (f".{tag}" if tag else ""), architecture=PREFIX + base,
        num_classes=int(cfg.get("num_classes") or 1000),
        input_size=(int(h), int(w)), mean=mean, std=tuple(cfg.get("std", IMAGENET_STD)),
        description=f"timm {base} (Keras: converted from torch)", in_chans=int(c),
        interpolation=interpolation if interpolation in ("nearest", "bilinear", "bicubic") else "bicubic",
        crop_pct=float(cfg.get("crop_pct", 0.875)), crop_mode="center" if cfg.get("crop_mode") != "squash"
        else "squash", license=str(cfg.get("license") or "unknown"), source="timm",
    )


def checkpoint_entry(name: str, config: dict[str, Any], where: str) -> ModelEntry:
    """The entry of a timm Hub repo's config.json (``architecture``, ``num_classes``, ``model_args``,
    ``pretrained_cfg``), checked against the name it was pulled for."""
    base, _ = split_tag(name)
    arch = str(config.get("architecture", "")).partition(".")[0]
    if arch != base:
        raise UnknownModelError(f"{where}: config.json names architecture {arch or None!r}, not {base!r}; "
                                "is it a timm model repo of that model?")
    pcfg = dict(config.get("pretrained_cfg") or {})
    pcfg.setdefault("num_classes", config.get("num_classes", 1000))
    args = {k: v for k, v in (config.get("model_args") or {}).items() if k not in DROPPED_MODEL_ARGS}
    found = entry(name, pcfg)
    return found.replace(num_classes=int(config.get("num_classes") or pcfg["num_classes"]), config=args,
                         source=where)


def class_names(config: dict[str, Any], num_classes: int) -> list[str] | None:
    """Class names of a timm checkpoint's head: its ``label_names`` (ImageNet synsets become their descriptions),
    else ImageNet's as timm infers the subset from the number of classes; None when neither applies."""
    import_timm()
    from timm.data import ImageNetInfo, infer_imagenet_subset

    names = config.get("label_names") or (config.get("pretrained_cfg") or {}).get("label_names")
    subset = infer_imagenet_subset({"num_classes": num_classes})
    info = ImageNetInfo(subset) if subset else None
    if isinstance(names, dict):
        names = [names.get(str(i), names.get(i, str(i))) for i in range(num_classes)]
    if names:
        if len(names) != num_classes:
            return None
        if info is not None and all(n in info.label_names() for n in names):
            return [info.label_name_to_description(n) for n in names]
        return [str(n) for n in names]
    return list(info.label_descriptions()) if info is not None else None


def timm_config(spec: BuildSpec) -> dict[str, Any]:
    """timm's keys for config.json, so ``timm.create_model("local-dir:...")`` reads zoo checkpoints."""
    return {"architecture": model_name(spec.architecture), "model_args": {"in_chans": spec.in_chans}}


def stages_of(model: Any) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """Stages from timm's ``group_matcher``: stem, stage1..N, head; fnmatch patterns over state_dict keys."""
    timm = import_timm()
    keys = list(model.state_dict())
    groups = timm.models.group_parameters(model, model.group_matcher(coarse=True)) \
        if hasattr(model, "group_matcher") else {}
    head_name = model.default_cfg.get("classifier", "fc") if hasattr(model, "default_cfg") else "fc"
    heads = head_name if isinstance(head_name, (list, tuple)) else [head_name]
    head = {k for k in keys if any(k == h or k.startswith(h + ".") for h in heads)}
    # group ids are ordered input -> output; group 0 is the stem when the matcher has one
    assigned: dict[str, str] = {}
    ordered = sorted(groups.items(), key=lambda t: t[0])
    stages: list[str] = []
    for i, (_, names) in enumerate(ordered):
        names = [n for n in names if n not in head]
        if not names:
            continue
        stage = "stem" if i == 0 and len(ordered) > 2 else f"stage{len(stages) + (0 if 'stem' in stages else 1)}"
        stages.append(stage)
        for n in names:
            assigned[n] = stage
    rest = [k for k in keys if k not in assigned and k not in head]
    if rest or not stages:  # buffers (BatchNorm statistics) follow their module's parameters
        for k in rest:
            owner = k.rsplit(".", 1)[0]
            match = next((s for n, s in assigned.items() if n.rsplit(".", 1)[0] == owner), None)
            if match is None:
                match = stages[-1] if stages else "body"
                if match not in stages:
                    stages.append(match)
            assigned[k] = match
    patterns: dict[str, list[str]] = {s: [] for s in stages}
    for k, s in assigned.items():
        patterns[s].append(k)
    patterns["head"] = sorted(head) or ["__no_head__"]
    return (*stages, "head"), {s: tuple(p) for s, p in patterns.items()}


@functools.lru_cache(maxsize=64)
def architecture(name: str) -> Architecture | None:
    """The Architecture of ``timm:NAME`` (None for other names); stages need timm (a meta-device model)."""
    if not name.startswith(PREFIX):
        return None
    try:
        base = check_name(name)
    except ConversionError:  # no timm here: a stored Keras graph still loads, without stages to freeze
        base = model_name(name)
        stages, patterns = ("head",), {"head": ("*",)}
    else:
        timm = import_timm()
        import torch

        with torch.device("meta"):
            model = timm.create_model(base, pretrained=False)
        stages, patterns = stages_of(model)
    return Architecture(
        name=PREFIX + base,
        builders={"torch": "zoo_core.torch2keras.builders:build_torch",
                  "tf": "zoo_core.torch2keras.builders:build_keras"},
        stages=stages, stage_patterns=patterns, description=f"timm {base}",
        timm=timm_config,
    )
