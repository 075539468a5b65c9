"""What ONNX exports from both frameworks share: I/O names, the dynamic batch axis, preprocessing metadata in
``metadata_props``, the check that every op exists in ONNX, the onnxruntime runner and dynamic int8 quantization."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write
from .report import ExportError, Runner

_ORT_MISSING = re.compile(r"No Op registered for (\w+)")


def _rename(graph: Any, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new


TORCH_MIN_OPSET = 18  # torch.onnx.export(dynamo=True) writes opset 18 and later; lower ones it cannot convert to
TF2ONNX_MIN_OPSET = 14  # tf2onnx's supported range starts here (its README)


def opset_range(framework: str) -> tuple[int, int]:
    """The ONNX opsets the installed exporter of ``framework`` writes: (lowest, highest)."""
    if framework == "torch":
        try:
            from torch.onnx import _constants

            return TORCH_MIN_OPSET, int(_constants.ONNX_MAX_OPSET)
        except (ImportError, AttributeError):
            return TORCH_MIN_OPSET, TORCH_MIN_OPSET
    try:
        from tf2onnx.constants import OPSET_TO_IR_VERSION

        return TF2ONNX_MIN_OPSET, max(OPSET_TO_IR_VERSION)
    except (ImportError, AttributeError):
        return TF2ONNX_MIN_OPSET, 18


def check_opset(opset: Any, framework: str) -> None:
    """Refuse, in one line and before anything is written, an opset the exporter of ``framework`` cannot write
    (the torch exporter would warn with a traceback and write another opset)."""
    low, high = opset_range(framework)
    whole = isinstance(opset, int) and not isinstance(opset, bool)
    if not whole or not low <= opset <= high:
        name = "torch.onnx" if framework == "torch" else "tf2onnx"
        raise ExportError(f"ONNX opset {opset} cannot be exported from {framework}: the installed exporter ({name}) "
                          f"supports opsets {low} to {high}; pass --opset between them, or leave it out for the "
                          "exporter's default")


def opset_of(model: Any) -> int | None:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def unsupported_ops(model: Any) -> list[tuple[str, str]]:
    """(op type, node name) of every node in the standard domains that ONNX does not define."""
    import onnx

    missing = []
    for node in model.graph.node:
        domain = node.domain or ""
        if domain in ("", "ai.onnx", "ai.onnx.ml") and not onnx.defs.has(node.op_type, domain):
            missing.append((node.op_type, node.name))
    return missing


def unsupported_error(ops: list[tuple[str, str]], source: str) -> ExportError:
    kinds = sorted({op for op, _ in ops})
    where = ", ".join(name for _, name in ops[:3])
    return ExportError(
        f"ONNX has no op {', '.join(kinds)} (from {source}, at {where}): the model cannot be exported to onnx as "
        "written; rewrite that part with ops ONNX has (e.g. exact GELU as x * 0.5 * (1 + erf(x / sqrt(2))), "
        "which is what zoo_core.backends.keras_layers.Gelu does) or export to another format"
    )


def finalize(path: Path, meta: dict[str, Any], source: str) -> int | None:
    """Name the input and output, call the batch axis "batch", store ``meta`` as metadata_props, check every op
    exists in ONNX, and save the model as one file. Returns the opset."""
    import onnx

    model = onnx.load(str(path))
    missing = unsupported_ops(model)
    if missing:
        raise unsupported_error(missing, source)
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ExportError(f"expected one input and one output in the ONNX graph, found {len(inputs)} and "
                          f"{len(graph.output)}")
    _rename(graph, inputs[0].name, meta["input_name"])
    _rename(graph, graph.output[0].name, meta["output_name"])
    for value in (inputs[0], graph.output[0]):
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "batch"
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = json.dumps(value)  # every value JSON-encoded: a consumer json.loads each one
    model.doc_string = (f"{meta['model']} exported by zoo {meta['zoo_version']} from {meta['framework']}: input "
                        f"{meta['input_name']} {meta['layout']} float32, output {meta['output_name']}")
    onnx.checker.check_model(model)
    atomic_write(path, model.SerializeToString())
    return opset_of(model)


def runner(path: Path, threads: int | None = None) -> Runner:
    """Run the file in onnxruntime (CPU; ``threads``: its intra-op thread count)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        found = _ORT_MISSING.search(str(exc))
        if found:
            raise ExportError(f"onnxruntime cannot run {path.name}: ONNX has no op {found.group(1)}; the model cannot "
                              "be exported to onnx as written") from None
        raise ExportError(f"onnxruntime cannot load {path.name}: {exc}") from None
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: np.ascontiguousarray(x, np.float32)})[0]

    return run


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The zoo's metadata_props of an exported file, JSON values decoded."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    out: dict[str, Any] = {}
    for prop in model.metadata_props:
        try:
            out[prop.key] = json.loads(prop.value)
        except ValueError:
            out[prop.key] = prop.value
    return out


def quantize_dynamic(src: Path, dst: Path) -> dict[str, Any]:
    """onnxruntime dynamic quantization: int8 weights of MatMul/Gemm/Conv, activations quantized on the fly."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize

    ops = ["MatMul", "Gemm", "Conv"]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # onnxruntime logs a pre-processing advice on the root logger
    try:
        ort_quantize(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=ops)
    except Exception as exc:
        raise ExportError(f"onnxruntime dynamic quantization of {src.name} failed: {exc}") from None
    finally:
        root.setLevel(level)
    import onnx

    model = onnx.load(str(dst))
    counted: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type in ("MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "MatMulIntegerToFloat",
                            "DynamicQuantizeMatMul"):
            counted[node.op_type] = counted.get(node.op_type, 0) + 1
    return {"quantization_method": "onnxruntime.quantization.quantize_dynamic (QInt8 weights of MatMul/Gemm/Conv)",
            "op_types": ops,
            "quantized_nodes": counted}
