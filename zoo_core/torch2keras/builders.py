"""The builders of ``timm:NAME`` architectures: timm's model in torch, the converted graph in Keras.

A conversion is cached by (model, classes, channels, size, timm/torch/zoo versions) as Keras config JSON in
``<cache>/torch2keras``, so only the first Keras build of a configuration traces the model; the weights always
come from a fresh timm model (timm's own initialisation) or from a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import plugins
from .._version import __version__
from ..architecture import BuildSpec, resolve
from ..errors import CheckpointError, ConversionError
from ..fileio import atomic_write, cache_dir
from . import convert as conv
from . import timm_models, verify

log = logging.getLogger("zoo.torch2keras")


def build_torch(spec: BuildSpec, *, weights: str | Path | None = None,
                pretrained_cfg: Mapping[str, Any] | None = None) -> Any:
    """timm's model; with ``weights`` (a safetensors file of timm's state_dict, ``pretrained_cfg`` the config it
    was saved with) loaded by timm's own pretrained loader, which adapts a different head or input channels."""
    timm = timm_models.import_timm()
    name = timm_models.model_name(spec.architecture)
    if weights is None:
        return timm.create_model(name, pretrained=False, num_classes=spec.num_classes, in_chans=spec.in_chans,
                                 **dict(spec.config))
    overlay = {**dict(pretrained_cfg or {}), "file": str(weights), "source": "", "hf_hub_id": None, "url": None}
    try:
        return timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, num_classes=spec.num_classes,
                                 in_chans=spec.in_chans, **dict(spec.config))
    except (RuntimeError, KeyError, ValueError) as exc:  # state_dict key or shape mismatch
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{weights}: timm cannot load these weights into {name}: {first[:300]}") from None


def _cache_file(spec: BuildSpec) -> Path:
    import timm
    import torch

    key = json.dumps([spec.architecture, spec.num_classes, spec.in_chans, list(spec.input_size),
                      sorted(dict(spec.config).items()), timm.__version__, torch.__version__, __version__])
    return cache_dir() / "torch2keras" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def build_converted(spec: BuildSpec) -> Any:
    """The tf builder of a plugin architecture with a torch builder only: its torch model converted to Keras
    (parity checked on calibrated weights at every build; not cached, the plugin's code may change between
    builds), with the torch model's initial weights."""
    arch = plugins.get_architecture(spec.architecture)
    if arch is None or "torch" not in arch.builders:
        raise ConversionError(f"architecture {spec.architecture!r} has no torch builder to convert to Keras: "
                              "register one with Architecture(builders={'torch': 'module:function'})")
    torch_model = resolve(arch.builders["torch"])(spec).eval()
    result = conv.convert(torch_model, tuple(spec.input_size), spec.in_chans)
    result.model.zoo_graph = result.graph
    result.model.zoo_conversion = result.report()
    return result.model


def build_keras(spec: BuildSpec, *, torch_model: Any = None) -> Any:
    """The Keras model of a timm architecture: converted (parity checked) or from the cache, with the weights of
    ``torch_model`` (a fresh timm model, timm's init, when not given)."""
    torch_model = (build_torch(spec) if torch_model is None else torch_model).eval()
    file = _cache_file(spec)
    if file.is_file():
        stored = json.loads(file.read_text())
        model = conv.from_graph(stored["graph"])
        verify.load_into_keras(model, verify.state_numpy(torch_model))
        model.zoo_graph = stored["graph"]
        model.zoo_conversion = stored["report"]
        return model
    result = conv.convert(torch_model, tuple(spec.input_size), spec.in_chans)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(file, json.dumps({"graph": result.graph, "report": result.report()}).encode())
    result.model.zoo_graph = result.graph
    result.model.zoo_conversion = result.report()
    return result.model
