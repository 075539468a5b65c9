"""PyTorch backend: import, count, predict, canonical weights, freezing. Torch models take NCHW input."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..frameworks import import_torch

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
        raise CheckpointError.key_mismatch(missing, unexpected)
    for key, value in tensors.items():
        if key in own and tuple(np.shape(value)) != tuple(own[key].shape):
            raise CheckpointError.shape_mismatch(key, tuple(np.shape(value)), tuple(own[key].shape))
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


def _frozen_bn_train(self, mode: bool = True):
    """``train()`` of a frozen BatchNorm: it stays in eval mode, so its running statistics do not change."""
    return import_torch().nn.Module.train(self, False)


def set_frozen(model, is_frozen: Callable[[str], bool]) -> None:
    """requires_grad per parameter from its canonical (state_dict) name; BatchNorm layers whose parameters (or,
    without affine parameters, running statistics) are all frozen are pinned to eval mode."""
    batchnorm = import_torch().nn.modules.batchnorm._BatchNorm
    for name, p in model.named_parameters():
        p.requires_grad_(not is_frozen(name))
    for mname, m in model.named_modules():
        if not isinstance(m, batchnorm):
            continue
        prefix = f"{mname}." if mname else ""
        keys = [prefix + n for n, _ in m.named_parameters(recurse=False)] or [prefix + "running_mean"]
        if all(is_frozen(k) for k in keys):
            m.train = types.MethodType(_frozen_bn_train, m)
            m.eval()
        else:
            if "train" in m.__dict__:
                del m.__dict__["train"]
            m.training = model.training


def parameters(model) -> list[tuple[str, int, bool]]:
    return [(n, int(p.numel()), bool(p.requires_grad)) for n, p in model.named_parameters()]


def _standard_strides(x: Any) -> Any:
    """``x`` as float32 with C-order strides, copied only when it has other strides: a transposed NHWC view, even
    one numpy counts contiguous (one channel), would make torch run the convolutions in channels-last layout."""
    x = np.asarray(x, np.float32)
    standard = np.empty((0,) + x.shape[1:], np.float32).strides[1:]
    return x if x.flags.c_contiguous and x.strides[1:] == standard else x.copy()


def predictor(model) -> Callable[[Any], Any]:
    """Logits (numpy) for NCHW float batches (numpy), in eval mode under ``torch.inference_mode``, on the model's
    device; the model's train/eval mode is restored after each batch. Inputs with other than standard NCHW
    strides are copied (see :func:`_standard_strides`)."""
    torch = import_torch()
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    modules = list(model.modules())

    def predict(x):
        # switch modes only when some module trains: Module.train()/eval() walks every submodule (~1 ms for a
        # ViT-Tiny, twice per batch was 10 % of its inference time)
        was_training = model.training
        switch = was_training or any(m.training for m in modules)
        if switch:
            model.eval()
        try:
            with torch.inference_mode():
                out = model(torch.from_numpy(_standard_strides(x)).to(device, non_blocking=True))
            return out.float().cpu().numpy()
        finally:
            if switch:
                model.train(was_training)

    return predict


def calibrate_batchnorm(model: Any, x: Any, generator: Any) -> None:
    """Give every BatchNorm of ``model`` (in eval mode) realistic random statistics, measured in ONE forward pass of
    ``x``: each BatchNorm, when first reached, is set from its actual input, which every BatchNorm before it has
    already shaped. running_var = max(E[x²], 1) × U(0.75, 1.25) (the second moment, not the variance: x / rms(x)
    stays O(1) and subtracts no large mean, which would cancel digits and amplify float32 error; never below 1, so
    small activations stay small), running_mean = N(0, 0.1)·rms, weight U(0.5, 1.5), bias N(0, 0.2). Independent
    random statistics would instead let activations grow block after block (ResNet-50 logits ~600)."""
    torch = import_torch()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    done: set[int] = set()

    def set_statistics(norm: Any, inp: tuple) -> None:
        if id(norm) in done or not norm.track_running_stats:
            return
        done.add(id(norm))
        dims = [d for d in range(inp[0].dim()) if d != 1]
        second = torch.clamp(inp[0].square().mean(dims), min=1.0)
        c = norm.num_features
        norm.running_mean.copy_(torch.randn(c, generator=generator) * 0.1 * second.sqrt())
        norm.running_var.copy_(second * (torch.rand(c, generator=generator) * 0.5 + 0.75))
        if norm.affine:
            norm.weight.copy_(torch.rand(c, generator=generator) + 0.5)
            norm.bias.copy_(torch.randn(c, generator=generator) * 0.2)
        norm.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=generator)))

    hooks = [m.register_forward_pre_hook(set_statistics) for m in norms]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()

