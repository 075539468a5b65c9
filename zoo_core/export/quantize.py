"""Post-training quantization of torch models: ``torch.ao.quantization.quantize_dynamic`` on ``nn.Linear``.

Dynamic quantization stores Linear weights as int8 and quantizes activations on the fly; PyTorch has no dynamic
kernel for convolutions, so a conv net keeps its convs in float32 and only its Linear layers (the head, and for
SimpleCNN the large first dense layer) shrink. ``quantized_fraction`` in the report says how much of the model that
is. (torch 2.14 marks torch.ao.quantization deprecated in favour of torchao, and still runs it.)
"""

from __future__ import annotations

import copy
import warnings
from typing import Any


def torch_dynamic(model: Any) -> tuple[Any, dict[str, Any]]:
    """A quantized copy of ``model`` (the original is untouched) and what was quantized."""
    import torch

    linear = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    total = sum(p.numel() for p in model.parameters())
    covered = sum(m.weight.numel() for _, m in linear)
    engines = torch.backends.quantized.supported_engines
    if torch.backends.quantized.engine not in engines or torch.backends.quantized.engine == "none":
        torch.backends.quantized.engine = next(e for e in ("x86", "fbgemm", "qnnpack") if e in engines)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {torch.nn.Linear},
                                                           dtype=torch.qint8)
    info = {
        "quantization_method": "torch.ao.quantization.quantize_dynamic({nn.Linear}, qint8): int8 weights, "
                               "activations quantized per batch; convolutions stay float32",
        "quantized_layers": [n for n, _ in linear],
        "quantized_fraction": covered / max(total, 1),
        "engine": torch.backends.quantized.engine,
    }
    return quantized, info
