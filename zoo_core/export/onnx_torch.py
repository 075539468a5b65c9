"""ONNX from PyTorch: ``torch.onnx.export(dynamo=True, external_data=False)`` with a dynamic batch axis."""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import warnings
from pathlib import Path
from typing import Any

from . import onnx_common
from .report import ExportError
from .source import Source

EXPORTER = "torch.onnx.export(dynamo=True, external_data=False)"
_MISSING_OP = re.compile(r"No ONNX function found for <OpOverload\(op='([^']+)'")
_NODE = re.compile(r"Error when translating node .*?call_function\[target=([\w.]+)\]")


def _forward_arg(model: Any) -> str:
    params = [p for p in inspect.signature(model.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params:
        raise ExportError(f"{type(model).__name__}.forward takes no positional input; cannot export it")
    return params[0].name


def _failure(exc: BaseException) -> ExportError:
    """The exporter's failure as a one-line error naming the op it could not convert."""
    text = str(exc)
    cause = exc.__cause__
    while cause is not None:
        text += "\n" + str(cause)
        cause = cause.__cause__
    found = _MISSING_OP.search(text) or _NODE.search(text)
    if found:
        op = found.group(1).removeprefix("torch.ops.").removesuffix(".default")
        return ExportError(f"cannot export to onnx from torch: the op {op} has no ONNX conversion in "
                           f"torch.onnx (dynamo exporter); replace it in the model or export to torchscript")
    first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    return ExportError(f"cannot export to onnx from torch: {first}")


def write(source: Source, path: Path, opset: int | None = None) -> dict[str, Any]:
    """Write ``path`` and return what the report records (exporter, opset)."""
    torch = __import__("torch")

    model = source.model
    meta = source.metadata()
    x = torch.from_numpy(source.batch(2))
    dynamic = {_forward_arg(model): {0: torch.export.Dim("batch", min=1, max=65536)}}
    kwargs: dict[str, Any] = {"opset_version": opset} if opset else {}
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False,
                              input_names=[meta["input_name"]], output_names=[meta["output_name"]],
                              dynamic_shapes=dynamic, verbose=False, **kwargs)
    except ExportError:
        raise
    except Exception as exc:
        raise _failure(exc) from None
    finally:
        model.train(was_training)
    opset_used = onnx_common.finalize(path, meta, "torch.onnx")
    return {"exporter": EXPORTER, "opset": opset_used}
