"""The checkpoint format as plain data: file names, config.json (timm's keys + the zoo's), reading its weights.

A checkpoint is a directory with ``model.safetensors`` + ``config.json``. The weights are stored in each
architecture's canonical naming and layout (timm's state_dict for timm architectures), so a timm checkpoint is a
zoo checkpoint and the other way round. ``config.json`` carries timm's keys (``architecture``, ``num_classes``,
``pretrained_cfg``, ``model_args``) and the zoo's own under ``"zoo"``. Weights are data: safetensors only, read
with its numpy API (no framework import, never unpickled).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..catalog import ModelEntry
from ..errors import CheckpointError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
FORMAT_VERSION = 1
PICKLE_NAMES = ("pytorch_model.bin", "model.pt", "model.pth", "model.ckpt")
GRAPH_NAME = "keras_graph.json"  # a converted Keras model's graph (Keras config JSON, loaded in safe mode)


def build_config(entry: ModelEntry, framework: str, sha256: str, *, timm: Mapping[str, Any] | None = None,
                 labels: list[str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """config.json for a model: timm's keys at the top (``timm``: the architecture's timm name and model_args,
    when it has them), the zoo's under ``"zoo"``."""
    h, w = entry.input_size
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


def read_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    cfg_file = path / CONFIG_NAME
    if not cfg_file.is_file():
        raise CheckpointError(f"{path} is not a checkpoint: it has no {CONFIG_NAME}")
    try:
        return json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{cfg_file}: not valid JSON ({exc})") from None


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
