"""The builders of ``timm:NAME`` architectures: timm's model in torch, the converted graph in Keras.

A conversion is cached by (model, classes, channels, size, timm/torch/zoo versions) as Keras config JSON in
``<cache>/torch2keras``, so only the first Keras build of a configuration traces the model; the weights always
come from a fresh timm model (timm's own initialisation) or from a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from .._version import __version__
from ..architecture import BuildSpec
from ..fileio import atomic_write, cache_dir
from . import convert as conv
from . import timm_models, verify

log = logging.getLogger("zoo.torch2keras")


def build_torch(spec: BuildSpec) -> Any:
    timm = timm_models.import_timm()
    model = timm.create_model(timm_models.model_name(spec.architecture), pretrained=False,
                              num_classes=spec.num_classes, in_chans=spec.in_chans, **dict(spec.config))
    return model


def _cache_file(spec: BuildSpec) -> Path:
    import timm
    import torch

    key = json.dumps([spec.architecture, spec.num_classes, spec.in_chans, list(spec.input_size),
                      sorted(dict(spec.config).items()), timm.__version__, torch.__version__, __version__])
    return cache_dir() / "torch2keras" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def build_keras(spec: BuildSpec) -> Any:
    """The Keras model of a timm architecture: converted (parity checked) or from the cache, timm's init weights."""
    torch_model = build_torch(spec).eval()
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
