"""One checkpoint format for both frameworks: a directory with ``model.safetensors`` + ``config.json``.

The weights are stored in each architecture's canonical naming and layout (timm's state_dict for timm
architectures), so a timm checkpoint is a zoo checkpoint and the other way round. ``config.json`` carries timm's
keys (``architecture``, ``num_classes``, ``pretrained_cfg``, ``model_args``) and the zoo's own under ``"zoo"``.
Weights are data: safetensors only, read with its numpy API (no framework import, never unpickled).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, models
from .errors import CheckpointError, UnknownModelError
from .registry import ModelEntry

log = logging.getLogger("zoo.checkpoint")

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
FORMAT_VERSION = 1
PICKLE_NAMES = ("pytorch_model.bin", "model.pt", "model.pth", "model.ckpt")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to a temp file beside ``path``, fsync, then rename over it: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        _fsync_write(Path(tmp), data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_config(entry: ModelEntry, framework: str, sha256: str, *, labels: list[str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """config.json for a model: timm's keys at the top, the zoo's under ``"zoo"``."""
    from . import __version__, plugins

    h, w = entry.input_size
    arch = plugins.get_architecture(entry.architecture)
    timm = arch.timm_config(entry) if arch is not None else None
    pretrained_cfg = {
        "input_size": [entry.in_chans, h, w],
        "mean": list(entry.mean),
        "std": list(entry.std),
        "crop_pct": entry.crop_pct,
        "crop_mode": entry.crop_mode,
        "interpolation": entry.interpolation,
        "num_classes": entry.num_classes,
        "license": entry.license,
    }
    config: dict[str, Any] = {
        "architecture": timm["architecture"] if timm else entry.name,
        "num_classes": entry.num_classes,
    }
    if timm and timm.get("model_args"):
        config["model_args"] = timm["model_args"]
    if labels:
        if len(labels) != entry.num_classes:
            raise CheckpointError(f"{len(labels)} label names given for a model with {entry.num_classes} classes")
        config["label_names"] = list(labels)
    config["pretrained_cfg"] = pretrained_cfg
    config["zoo"] = {
        "format_version": FORMAT_VERSION,
        "zoo_version": __version__,
        "name": entry.name,
        "architecture": entry.architecture,
        "config": dict(entry.config),
        "num_classes": entry.num_classes,
        "in_chans": entry.in_chans,
        "input_size": [h, w],
        "mean": list(entry.mean),
        "std": list(entry.std),
        "interpolation": entry.interpolation,
        "crop_pct": entry.crop_pct,
        "crop_mode": entry.crop_mode,
        "license": entry.license,
        "saved_from": framework,
        "sha256": sha256,
        **dict(extra or {}),
    }
    return config


def save(model: Any, path: str | Path, *, labels: list[str] | None = None,
         extra: Mapping[str, Any] | None = None) -> Path:
    """Save a torch or Keras model built by the zoo as a checkpoint directory; atomic.

    A new directory is written in a temporary sibling and renamed into place. In an existing directory (a training
    run) the weights are replaced first and config.json last; config.json holds the weights' sha256, so a save cut
    in between is detected at load instead of loading mismatched files.
    """
    from safetensors.numpy import save as st_save

    spec = models.spec_of(model)
    backend = backends.of(model)
    tensors = backend.to_canonical(model)
    blob = st_save({k: np.require(v, requirements="C") for k, v in tensors.items()}, metadata={"format": "pt"})
    digest = hashlib.sha256(blob).hexdigest()
    if labels is None:
        labels = getattr(model, "zoo_labels", None)
    config = build_config(spec.entry, spec.framework, digest, labels=labels, extra=extra)
    config_bytes = (json.dumps(config, indent=2) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            _fsync_write(tmp / WEIGHTS_NAME, blob)
            _fsync_write(tmp / CONFIG_NAME, config_bytes)
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    else:
        if not path.is_dir():
            raise CheckpointError(f"{path} exists and is not a directory; a checkpoint is a directory")
        atomic_write(path / WEIGHTS_NAME, blob)
        atomic_write(path / CONFIG_NAME, config_bytes)
    log.info("saved %s (%s, %d tensors, sha256 %s) to %s", spec.entry.name, spec.framework, len(tensors),
             digest[:12], path)
    return path


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    cfg_file = path / CONFIG_NAME
    if not cfg_file.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: it has no {CONFIG_NAME}")
    try:
        return json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{cfg_file}: not valid JSON ({exc})") from None


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


def read_weights(path: str | Path, expected_sha256: str | None = None) -> dict[str, np.ndarray]:
    """Read model.safetensors as numpy arrays; check sha256 when known; never unpickle anything."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as st_load

    path = Path(path)
    file = path / WEIGHTS_NAME if path.is_dir() else path
    if not file.is_file():
        pickles = [p for p in PICKLE_NAMES if (path / p).is_file()] if path.is_dir() else []
        if pickles:
            raise CheckpointError(
                f"{path} holds only {pickles[0]}, a pickle file, which the zoo never unpickles (it can run code). "
                "Convert it once with zoo.checkpoint.import_torch_file(file, to=DIR), which reads tensors only "
                "(torch.load(weights_only=True)), or ask its author for model.safetensors"
            )
        raise CheckpointError(f"{path} has no {WEIGHTS_NAME}")
    data = file.read_bytes()
    if data[8:9] != b"{" and (data[:2] == b"PK" or (data[:1] == b"\x80" and data[1:2] in b"\x02\x03\x04\x05")):
        raise CheckpointError(f"{file} is a pickle/zip file, not safetensors; the zoo never unpickles weights")
    if expected_sha256:
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected_sha256:
            raise CheckpointError(
                f"{file}: sha256 {digest[:16]}… does not match {expected_sha256[:16]}… recorded in config.json; "
                "the file is corrupt, truncated, or from another save (an interrupted save?): re-download or re-save it"
            )
    try:
        return st_load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise CheckpointError(f"{file} is not a readable safetensors file ({exc}); it may be truncated") from None


def head_keys(entry: ModelEntry, keys: list[str]) -> list[str]:
    arch = models.get_architecture(entry)
    patterns = arch.stage_patterns.get(arch.head, ())
    return [k for k in keys if any(fnmatchcase(k, p) for p in patterns)]


def load_dir(path: str | Path, framework: str, *, num_classes: int | None = None, strict: bool = True) -> Any:
    """Load a checkpoint directory as a model of ``framework``.

    ``num_classes`` different from the checkpoint's re-initialises only the head (logged).
    """
    path = Path(path)
    cfg = read_config(path)
    entry = entry_from_config(cfg, path)
    tensors = read_weights(path, (cfg.get("zoo") or {}).get("sha256"))
    model = models.build(entry, framework, num_classes=num_classes)
    backend = backends.get(models.spec_of(model).framework)
    if num_classes is not None and num_classes != entry.num_classes:
        own = {k: np.shape(v) for k, v in backend.to_canonical(model).items()}
        dropped = [k for k in head_keys(entry, list(tensors)) if k in own and own[k] != np.shape(tensors[k])]
        for key in dropped:
            tensors.pop(key)
        log.warning("re-initialised the head (%s): the checkpoint has %d classes, the model %d",
                    ", ".join(dropped), entry.num_classes, num_classes)
        missing, unexpected = backend.from_canonical(model, tensors, strict=False)
        if unexpected or set(missing) - set(dropped):
            from .checkpoint_errors import key_mismatch

            raise key_mismatch(sorted(set(missing) - set(dropped)), unexpected)
    else:
        missing, unexpected = backend.from_canonical(model, tensors, strict=strict)
        if missing or unexpected:
            log.warning("loaded %s non-strictly: %d missing tensors %s, %d unexpected %s", path, len(missing),
                        missing[:5], len(unexpected), unexpected[:5])
    labels = cfg.get("label_names")
    if labels and (num_classes is None or num_classes == entry.num_classes):
        model.zoo_labels = list(labels)
    log.info("loaded %s from %s (saved from %s) in %s", entry.name, path,
             (cfg.get("zoo") or {}).get("saved_from", "timm"), framework)
    return model


def import_torch_file(file: str | Path, to: str | Path) -> Path:
    """Turn a PyTorch ``.bin``/``.pt`` state_dict (with a config.json beside it) into a safetensors checkpoint.

    The explicit import path for pickled weights: ``torch.load(weights_only=True)`` reads tensors only.
    """
    from safetensors.numpy import save_file

    torch = backends.get("torch").import_framework()
    file, to = Path(file), Path(to)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{file}: not a plain tensor state_dict ({type(exc).__name__}: {exc})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{file}: expected a dict of tensors (a state_dict)")
    to.mkdir(parents=True, exist_ok=True)
    tmp = to / f".{WEIGHTS_NAME}.tmp"
    save_file({k: v.detach().cpu().contiguous().numpy() for k, v in state.items()}, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, to / WEIGHTS_NAME)
    if (file.parent / CONFIG_NAME).is_file() and not (to / CONFIG_NAME).exists():
        cfg = read_config(file.parent)
        cfg.get("zoo", {}).pop("sha256", None)
        atomic_write(to / CONFIG_NAME, (json.dumps(cfg, indent=2) + "\n").encode())
    return to


def convert(src: str | Path, framework: str, to: str | Path) -> Path:
    """Load a checkpoint in ``framework`` and save it again from that framework (same canonical weights)."""
    model = load_dir(src, framework)
    return save(model, to)
