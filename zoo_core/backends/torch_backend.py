"""PyTorch backend: import, build, count, predict, weights. Torch models take NCHW input."""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from .. import checkpoint_errors

log = logging.getLogger("zoo.torch")


def import_torch():
    """Import torch safely after TensorFlow.

    If TensorFlow is already imported and triton is not, importing triton (timm and torchvision pull it in) would
    segfault (tensorflow#124205). Triton is then hidden from this process: torch runs without it (torch.compile's
    GPU kernels are unavailable in this process; import torch before TensorFlow to keep them).
    """
    if "tensorflow" in sys.modules and "triton" not in sys.modules:
        sys.modules["triton"] = None  # makes `import triton` fail cleanly and find_spec return None
        log.info("TensorFlow was imported first: triton is disabled in this process to avoid a known crash")
    import torch

    return torch


import_framework = import_torch


def is_model(obj: Any) -> bool:
    return "torch" in sys.modules and isinstance(obj, sys.modules["torch"].nn.Module)


def count_params(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def predict(model, x: np.ndarray) -> np.ndarray:
    """Logits for an NCHW float batch, in eval mode (the model's mode is restored)."""
    torch = import_torch()
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            out = model(torch.as_tensor(np.asarray(x, np.float32), device=device))
        return out.detach().cpu().numpy()
    finally:
        model.train(was_training)


def to_canonical(model) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def from_canonical(model, tensors: dict[str, np.ndarray], strict: bool = True) -> tuple[list[str], list[str]]:
    """Copy canonical tensors into the model; every shape is checked before anything is written."""
    torch = import_torch()
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if strict and (missing or unexpected):
        raise checkpoint_errors.key_mismatch(missing, unexpected)
    for key, value in tensors.items():
        if key in own and tuple(np.shape(value)) != tuple(own[key].shape):
            raise checkpoint_errors.shape_mismatch(key, tuple(np.shape(value)), tuple(own[key].shape))
    with torch.no_grad():
        for key, value in tensors.items():
            if key in own:
                own[key].copy_(torch.from_numpy(np.array(value)).to(own[key].dtype))
    return missing, unexpected


def seed(value: int) -> None:
    import random

    torch = import_torch()
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


def input_layout() -> str:
    return "NCHW"
