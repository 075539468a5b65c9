"""Saving and loading checkpoints in either framework (the format itself is ``format.py``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends, models
from ..catalog import ModelEntry
from ..errors import CheckpointError
from ..fileio import atomic_dir, atomic_write, fsync_write
from ..frameworks import canonical_framework
from ..torch2keras import convert as t2k
from .format import CONFIG_NAME, GRAPH_NAME, WEIGHTS_NAME, build_config, read_config, read_weights
from .resolve import entry_from_config

log = logging.getLogger("zoo.checkpoint")


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
    arch = models.get_architecture(spec.entry)
    config = build_config(spec.entry, spec.framework, digest, timm=arch.timm_config(spec.entry), labels=labels,
                          extra=extra)
    graph = getattr(model, "zoo_graph", None)  # converted models carry their graph: TF loads need no torch
    if graph is not None:
        config["zoo"]["conversion"] = getattr(model, "zoo_conversion", None)
    config_bytes = (json.dumps(config, indent=2) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        with atomic_dir(path) as tmp:
            fsync_write(tmp / WEIGHTS_NAME, blob)
            if graph is not None:
                fsync_write(tmp / GRAPH_NAME, graph.encode())
            fsync_write(tmp / CONFIG_NAME, config_bytes)
    else:
        if not path.is_dir():
            raise CheckpointError(f"{path} exists and is not a directory; a checkpoint is a directory")
        atomic_write(path / WEIGHTS_NAME, blob)
        if graph is not None:
            atomic_write(path / GRAPH_NAME, graph.encode())
        atomic_write(path / CONFIG_NAME, config_bytes)
    log.info("saved %s (%s, %d tensors, sha256 %s) to %s", spec.entry.name, spec.framework, len(tensors),
             digest[:12], path)
    return path


def head_keys(entry: ModelEntry, keys: list[str]) -> list[str]:
    arch = models.get_architecture(entry)
    patterns = arch.stage_patterns.get(arch.head, ())
    return [k for k in keys if any(fnmatchcase(k, p) for p in patterns)]


def _from_stored_graph(path: Path, entry: ModelEntry, framework: str, num_classes: int | None) -> Any:
    """A Keras model from the checkpoint's stored graph (no torch needed), when it has one and the head is kept."""
    if canonical_framework(framework) != "tf" or not (path / GRAPH_NAME).is_file():
        return None
    if num_classes is not None and num_classes != entry.num_classes:
        return None
    graph = (path / GRAPH_NAME).read_text()
    model = t2k.from_graph(graph)
    model.zoo_graph = graph
    setattr(model, models.SPEC_ATTR, models.ModelSpec(entry, "tf"))
    return model


def load_dir(path: str | Path, framework: str, *, num_classes: int | None = None, strict: bool = True) -> Any:
    """Load a checkpoint directory as a model of ``framework``.

    ``num_classes`` different from the checkpoint's re-initialises only the head (logged).
    """
    path = Path(path)
    cfg = read_config(path)
    entry = entry_from_config(cfg, path)
    tensors = read_weights(path, (cfg.get("zoo") or {}).get("sha256"))
    model = _from_stored_graph(path, entry, framework, num_classes)
    if model is None:
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
            raise CheckpointError.key_mismatch(sorted(set(missing) - set(dropped)), unexpected)
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
