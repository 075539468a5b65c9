"""Which catalogue entry a checkpoint is: from its config.json's zoo section, or timm's keys matched against the
catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import models
from ..catalog import ModelEntry
from ..errors import CheckpointError, UnknownModelError
from .format import CONFIG_NAME


def entry_from_config(cfg: dict[str, Any], path: Path) -> ModelEntry:
    """The model described by a checkpoint's config.json (zoo's own section, or timm's keys)."""
    zoo_cfg = cfg.get("zoo")
    if zoo_cfg:
        fields = {k: zoo_cfg[k] for k in ("architecture", "config", "num_classes", "in_chans", "input_size", "mean",
                                          "std", "interpolation", "crop_pct", "crop_mode", "license") if k in zoo_cfg}
        try:
            return ModelEntry.from_dict(fields, name=zoo_cfg.get("name", path.name), source=str(path / CONFIG_NAME))
        except Exception as exc:
            raise CheckpointError(f"{path / CONFIG_NAME}: invalid zoo section: {exc}") from None
    timm_name = cfg.get("architecture")
    if not timm_name:
        raise CheckpointError(f"{path / CONFIG_NAME} names no architecture: is this a zoo or timm checkpoint?")
    try:
        entry = models.get_entry(timm_name)
    except UnknownModelError:
        try:
            entry = models.get_entry(timm_name.split(".")[0])
        except UnknownModelError as exc:
            raise CheckpointError(
                f"{path / CONFIG_NAME}: timm architecture {timm_name!r} is not in the zoo's registry ({exc}); "
                "add a registry entry for it, or install the plugin that provides it"
            ) from None
    pcfg = cfg.get("pretrained_cfg", {})
    args = cfg.get("model_args", {})
    update: dict[str, Any] = {"num_classes": int(cfg.get("num_classes", pcfg.get("num_classes", entry.num_classes)))}
    if "input_size" in pcfg:
        c, h, w = pcfg["input_size"]
        update.update(in_chans=int(c), input_size=(int(h), int(w)))
    if "in_chans" in args:
        update["in_chans"] = int(args["in_chans"])
    if "img_size" in args:
        size = args["img_size"]
        update["input_size"] = (size, size) if isinstance(size, int) else tuple(size)
    for key in ("mean", "std", "crop_pct", "interpolation"):
        if key in pcfg and pcfg[key] is not None:
            update[key] = tuple(pcfg[key]) if isinstance(pcfg[key], list) else pcfg[key]
    if update.get("interpolation") not in (None, "nearest", "bilinear", "bicubic"):
        update.pop("interpolation")
    try:
        return entry.replace(**update, source=str(path / CONFIG_NAME))
    except ValueError as exc:
        raise CheckpointError(f"{path / CONFIG_NAME}: invalid timm config: {exc}") from None
