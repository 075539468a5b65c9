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
    where = path / CONFIG_NAME
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{where}: holds a JSON {type(cfg).__name__}, not an object; re-save the checkpoint")
    zoo_cfg = cfg.get("zoo")
    if zoo_cfg is not None and not isinstance(zoo_cfg, dict):
        raise CheckpointError(f"{where}: the 'zoo' section should be an object, got {type(zoo_cfg).__name__}; "
                              "re-save the checkpoint")
    if zoo_cfg:
        fields = {k: zoo_cfg[k] for k in ("architecture", "config", "num_classes", "in_chans", "input_size", "mean",
                                          "std", "interpolation", "crop_pct", "crop_mode", "license") if k in zoo_cfg}
        try:
            return ModelEntry.from_dict(fields, name=zoo_cfg.get("name", path.name), source=str(where))
        except Exception as exc:
            raise CheckpointError(f"{where}: invalid zoo section: {' '.join(str(exc).split())[:300]}") from None
    timm_name = cfg.get("architecture")
    if not timm_name:
        raise CheckpointError(f"{where} names no architecture: is this a zoo or timm checkpoint?")
    if not isinstance(timm_name, str):
        raise CheckpointError(f"{where}: architecture should be a model name, got {timm_name!r}")
    try:
        entry = models.get_entry(timm_name)
    except UnknownModelError:
        try:
            entry = models.get_entry(timm_name.split(".")[0])
        except UnknownModelError as exc:
            raise CheckpointError(
                f"{where}: timm architecture {timm_name!r} is not in the zoo's registry ({exc}); "
                "add a registry entry for it, or install the plugin that provides it"
            ) from None
    pcfg = cfg.get("pretrained_cfg", {})
    args = cfg.get("model_args", {})
    if not isinstance(pcfg, dict) or not isinstance(args, dict):
        raise CheckpointError(f"{where}: pretrained_cfg and model_args should be objects; re-save the checkpoint")
    try:
        update = _timm_update(cfg, pcfg, args, entry)
        return entry.replace(**update, source=str(where))
    except (TypeError, ValueError) as exc:  # a field of another type or shape than timm writes
        raise CheckpointError(f"{where}: invalid timm config: {' '.join(str(exc).split())[:300]}") from None


def _timm_update(cfg: dict[str, Any], pcfg: dict[str, Any], args: dict[str, Any], entry: ModelEntry) -> dict[str, Any]:
    """The entry fields a timm config.json overrides."""
    # raw values: ModelEntry validates them (2.5 classes is an error, not 2)
    update: dict[str, Any] = {"num_classes": cfg.get("num_classes", pcfg.get("num_classes", entry.num_classes))}
    if "input_size" in pcfg:
        c, h, w = pcfg["input_size"]
        update.update(in_chans=c, input_size=(h, w))
    if "in_chans" in args:
        update["in_chans"] = args["in_chans"]
    if "img_size" in args:
        size = args["img_size"]
        update["input_size"] = (size, size) if isinstance(size, int) else tuple(size)
    for key in ("mean", "std", "crop_pct", "interpolation"):
        if key in pcfg and pcfg[key] is not None:
            update[key] = tuple(pcfg[key]) if isinstance(pcfg[key], list) else pcfg[key]
    if update.get("interpolation") not in (None, "nearest", "bilinear", "bicubic"):
        update.pop("interpolation")
    return update
