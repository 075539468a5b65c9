"""Trace a torch model with ``torch.export`` in eval mode and decompose it to core ATen.

``conv2d``, ``linear`` and ``layer_norm`` stay whole (they become real Keras layers), and so does
``scaled_dot_product_attention`` (two einsums in the operands' layouts instead of a decomposition that splits the
heads with transposes); every other op is decomposed.
Batch, height and width are exported as ``Dim.AUTO``: those the model allows stay symbolic, so the Keras model
accepts any batch (and any image size for a fully convolutional net); the rest are fixed at the traced size.
Models with timm's dynamic "same" padding are traced with only the batch symbolic (``dynamic_for``).
Dropout and drop-path are kept as marker ops (identity in eval) so the Keras model trains like the torch one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import ConversionError
from ..frameworks import import_torch

_MARKERS: dict[str, Any] = {}


def _markers() -> dict[str, Any]:
    """The ``zoo::dropout`` and ``zoo::drop_path`` custom ops (identity in eval, kept by torch.export)."""
    if _MARKERS:
        return _MARKERS
    torch = import_torch()

    for name in ("dropout", "drop_path"):
        if not hasattr(torch.ops.zoo, name) if hasattr(torch.ops, "zoo") else True:
            op = torch.library.custom_op(f"zoo::{name}", lambda x, p: x.clone(), mutates_args=(),
                                         schema="(Tensor x, float p) -> Tensor")
            op.register_fake(lambda x, p: torch.empty_like(x))

    _MARKERS.update(dropout=torch.ops.zoo.dropout.default, drop_path=torch.ops.zoo.drop_path.default)
    return _MARKERS


@contextlib.contextmanager
def _marked_dropout() -> Iterator[None]:
    """While tracing, dropout (functional or module) and timm's drop_path with p > 0 become marker ops."""
    torch = import_torch()
    markers = _markers()
    F = torch.nn.functional
    original = F.dropout

    def dropout(x: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
        return markers["dropout"](x, float(p)) if p > 0 else x

    patches = [(F, "dropout", dropout)]
    try:
        import timm.layers.drop as timm_drop

        def drop_path(x: Any, drop_prob: float = 0.0, training: bool = False, scale_by_keep: bool = True) -> Any:
            return markers["drop_path"](x, float(drop_prob)) if drop_prob > 0 else x

        patches.append((timm_drop, "drop_path", drop_path))
    except ImportError:
        pass
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in patches]
    try:
        for mod, name, fn in patches:
            setattr(mod, name, fn)
        yield
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)
        F.dropout = original


# timm's "same" padding computed from the input size at every call (TF-ported weights: tf_efficientnet_*, ...):
# with a symbolic height and width torch.export spends minutes on the nested size expressions
_SAME_PADDING = {"Conv2dSame", "MaxPool2dSame", "AvgPool2dSame"}


def dynamic_for(model: Any) -> bool | str:
    """How ``export`` should trace ``model``: batch, height and width symbolic (True), or only the batch
    (``"batch"``) when the model pads "same" from the input size (the Keras model then takes the traced size)."""
    return "batch" if any(type(m).__name__ in _SAME_PADDING for m in model.modules()) else True


def export(model: Any, example: Any, *, dynamic: bool | str = True) -> Any:
    """``torch.export`` the model (eval mode) on ``example`` (NCHW) and decompose it to core ATen; ``dynamic``:
    True (batch, height, width as ``Dim.AUTO``), ``"batch"`` (the batch only) or False (all fixed)."""
    torch = import_torch()
    model = model.eval()
    auto = torch.export.Dim.AUTO
    dyn = {"x": {0: auto} if dynamic == "batch" else {0: auto, 2: auto, 3: auto}} if dynamic else None
    name = type(model).__name__
    _markers()
    try:
        with _marked_dropout(), torch.no_grad():
            params = list(__import__("inspect").signature(model.forward).parameters)
            shapes = {params[0]: dyn["x"]} if dyn and params else None
            program = torch.export.export(model, (example,), dynamic_shapes=shapes, strict=False)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConversionError(f"torch.export cannot trace {name}: {type(exc).__name__}: {first[:300]}; "
                              "the model needs data-independent control flow to convert") from None
    table = torch.export.default_decompositions()
    aten = torch.ops.aten
    for op in (aten.conv2d.default, aten.linear.default, aten.layer_norm.default,
               aten.scaled_dot_product_attention.default, aten.upsample_bicubic2d.vec,
               aten.upsample_bicubic2d.default):
        table.pop(op, None)
    try:
        return program.run_decompositions(table)
    except Exception as exc:
        raise ConversionError(f"decomposing {name} to core ATen failed: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:300]}") from None
