"""TorchScript: ``torch.jit.trace`` on a batch of 2, saved with the zoo metadata as the extra file
``zoo_config.json``. (torch 2.14 marks TorchScript deprecated in favour of torch.export; it still loads in LibTorch
and in ``torch.jit.load``, which is what deployments of it use.)"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write
from .report import ExportError, Runner
from .source import Source

EXPORTER = "torch.jit.trace + torch.jit.save"
EXTRA_FILE = "zoo_config.json"


def write(source: Source, path: Path, model: Any = None) -> dict[str, Any]:
    """Trace ``model`` (default: the source model; a quantized copy when quantizing) and write it atomically."""
    import torch

    model = source.model if model is None else model
    was_training = model.training
    model.eval()
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, torch.from_numpy(source.batch(2)), check_trace=False)
            torch.jit.save(traced, buf, _extra_files={EXTRA_FILE: json.dumps(source.metadata())})
    except Exception as exc:
        raise ExportError(f"cannot export to torchscript: {str(exc).splitlines()[0]}") from None
    finally:
        model.train(was_training)
    atomic_write(path, buf.getvalue())
    return {"exporter": EXPORTER}


def runner(path: Path, threads: int | None = None) -> Runner:
    """Run the file through ``torch.jit.load``, as a deployment would; ``threads`` pins torch's intra-op threads
    during each call (restored after)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu")
    module.eval()

    def run(x: np.ndarray) -> np.ndarray:
        before = torch.get_num_threads()
        if threads:
            torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                return module(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
        finally:
            torch.set_num_threads(before)

    return run


def read_metadata(path: str | Path) -> dict[str, Any]:
    import torch

    extra = {EXTRA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra[EXTRA_FILE])
