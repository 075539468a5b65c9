"""Export zoo models for deployment and compress them: ONNX, TorchScript, SavedModel, TFLite; int8; pruning.

    import zoo_core as zoo
    report = zoo.export("runs/r18", "onnx", "r18.onnx")              # any zoo model object or checkpoint dir
    report = zoo.export("runs/cnn", "tflite", "cnn.tflite", quantize="int8", data="mnist5k", split=(0.8, 0, 0.2))
    zoo.prune("runs/r18", amount=0.3, out="runs/r18-pruned")

Every export is written to a temporary sibling, run in its own runtime (onnxruntime, ``torch.jit.load``,
``tf.saved_model.load``, ``tf.lite.Interpreter``) on fixed seeded batches of two sizes, compared with the model it
came from, and only then moved into place; the report is stored in ``export_report.json`` beside it. A float export
further than ``tolerance`` (1e-4) from its source raises :class:`ExportError` and writes nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import onnx_common, onnx_tf, onnx_torch, savedmodel, tflite, torchscript
from .onnx_common import quantize_dynamic
from .prune import PruneReport, prune
from .quantize import torch_dynamic
from .report import (
    ATOL,
    BATCH_SIZES,
    REPORT_NAME,
    ExportError,
    ExportReport,
    latency_ms,
    max_abs_diff,
    read,
    read_all,
    size_bytes,
    versions,
    write,
)
from .source import eval_split, open_data, resolve, split_arrays

log = logging.getLogger("zoo.export")

# format -> the framework it is exported from (None: either)
FORMATS: dict[str, str | None] = {"onnx": None, "torchscript": "torch", "savedmodel": "tf", "tflite": "tf"}
QUANTIZE: dict[str, tuple[str, ...]] = {"onnx": ("dynamic",), "torchscript": ("dynamic",), "savedmodel": (),
                                        "tflite": ("dynamic", "int8")}
LATENCY_THREADS = 1  # latency is measured on one thread: comparable across runtimes, steadier on a busy machine
_PACKAGES = {"onnx": ("onnx", "onnxruntime"), "torchscript": ("torch",), "savedmodel": ("tensorflow-cpu", "keras"),
             "tflite": ("tensorflow-cpu", "keras")}
_FRAMEWORK_PACKAGES = {"torch": ("torch", "onnxscript"), "tf": ("tensorflow-cpu", "keras", "tf2onnx")}

__all__ = ["ATOL", "FORMATS", "QUANTIZE", "ExportError", "ExportReport", "PruneReport", "export", "prune", "read"]


def _check(fmt: str, quantize: str | None) -> tuple[str, str | None]:
    fmt = str(fmt).lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; the formats are {', '.join(FORMATS)}")
    if quantize is None:
        return fmt, None
    quantize = str(quantize).lower()
    if quantize not in QUANTIZE[fmt]:
        if not QUANTIZE[fmt]:
            raise ExportError(f"{fmt} is a float format; quantize with --format tflite (dynamic or int8) or "
                              "onnx/torchscript (dynamic)")
        hint = "full int8 (static) quantization is done for tflite" if quantize == "int8" else ""
        raise ExportError(f"{fmt} supports --quantize {' or '.join(QUANTIZE[fmt])}, not {quantize!r}"
                          + (f"; {hint}" if hint else ""))
    return fmt, quantize


def _write(source: Any, fmt: str, path: Path, *, opset: int | None, quantize: str | None = None,
           calibration: np.ndarray | None = None, float_path: Path | None = None) -> dict[str, Any]:
    if fmt == "onnx" and quantize:
        return quantize_dynamic(float_path, path)
    if fmt == "onnx":
        return (onnx_torch if source.framework == "torch" else onnx_tf).write(source, path, opset)
    if fmt == "torchscript":
        if quantize:
            model, info = torch_dynamic(source.model)
            return {**torchscript.write(source, path, model), **info}
        return torchscript.write(source, path)
    if fmt == "savedmodel":
        return savedmodel.write(source, path)

    return tflite.write(source, path, quantize, calibration)


def _runner(fmt: str, path: Path, threads: int | None = None):
    if fmt == "savedmodel":
        return savedmodel.runner(path)
    return {"onnx": onnx_common.runner, "torchscript": torchscript.runner, "tflite": tflite.runner}[fmt](path, threads)


def _accuracy(run: Any, x: np.ndarray, y: np.ndarray, batch: int = 64) -> tuple[float, np.ndarray]:
    pred = np.concatenate([np.asarray(run(x[i : i + batch])).argmax(1) for i in range(0, len(x), batch)])
    return float((pred == y).mean()), pred


def _place(tmp: Path, out: Path) -> None:
    """Move the verified artifact into place; an existing file is replaced atomically, a directory swapped."""
    if tmp.is_dir():
        if out.exists() and not out.is_dir():
            raise ExportError(f"{out} exists and is a file; a SavedModel is a directory")
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            raise ExportError(f"{out} is a directory; give a file name for {tmp.suffix or 'the'} export")
        os.replace(tmp, out)


def _check_target(out: Path, overwrite: bool) -> None:
    """An export lands where nothing is, or replaces an earlier export of the zoo; anything else only with
    ``overwrite`` (a training run, a folder of the user's, a model file the zoo did not write)."""
    if not out.exists() and not out.is_symlink():
        return
    if overwrite:
        return
    if (out.parent / REPORT_NAME).is_file():
        try:
            own = out.name in read_all(out)
        except ExportError:
            own = False
        if own:
            return
    kind = "folder" if out.is_dir() else "file"
    raise ExportError(f"{out} exists and is a {kind} zoo export did not write; nothing was written: choose another "
                      "--out, or pass overwrite=True (--overwrite) to replace it")


def export(src: Any, format: str, out: str | os.PathLike, *, framework: str | None = None,
           quantize: str | None = None, data: Any = None, split: Sequence[float] | None = None,
           split_name: str = "test", seed: int = 0, opset: int | None = None, tolerance: float = ATOL,
           calibration_size: int = 200, overwrite: bool = False) -> ExportReport:
    """Export a zoo model or checkpoint to ``format`` at ``out``, verified against it.

    ``src``: a zoo model object (torch or Keras), a checkpoint directory, a ``hf://`` handle or a registry name.
    ``format``: onnx, torchscript, savedmodel or tflite. ``framework``: which framework to export from (onnx only;
    default: the model's, or the framework a checkpoint was saved from); TorchScript exports from torch and
    SavedModel/TFLite from TensorFlow, loading the weights there when needed. ``quantize``: ``dynamic`` (onnx,
    torchscript, tflite) or ``int8`` (tflite, full integer; needs ``data``). ``data``: a Dataset, built-in name or
    image folder (with ``split`` fractions and ``seed``): accuracy on ``split_name`` is reported, and int8
    calibrates on up to ``calibration_size`` training images. ``opset``: ONNX opset (default: the exporter's).
    ``out`` must not exist, or be an earlier export of the zoo; anything else is replaced only with ``overwrite``.
    """
    fmt, quantize = _check(format, quantize)

    started = time.perf_counter()
    out = Path(os.path.abspath(out))  # `--out .` has a name to write beside
    _check_target(out, overwrite)
    if quantize == "int8" and data is None:
        raise ExportError("full int8 quantization calibrates activation ranges on real images: pass data "
                          "(--data mnist5k or an image folder)")
    source = resolve(src, fmt, FORMATS[fmt], framework)
    if fmt == "onnx" and opset is not None:
        onnx_common.check_opset(opset, source.framework)
    dataset = open_data(data, split, seed)
    calibration = None
    if quantize == "int8":
        calib_split = dataset.train if len(dataset.train) else eval_split(dataset, split_name)
        calibration, _ = split_arrays(source, calib_split, limit=calibration_size, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        float_path = tmp / "float" / out.name
        float_path.parent.mkdir()
        info = _write(source, fmt, float_path, opset=opset)
        batches = [source.batch(n, seed + i) for i, n in enumerate(BATCH_SIZES)]
        float_run = _runner(fmt, float_path)

        diff = max_abs_diff(float_run, source.predict, batches)
        if diff > tolerance:
            raise ExportError(f"the {fmt} export from {source.framework} differs from its source by max |Δlogits| "
                              f"{diff:.3g} > {tolerance:g} on a fixed batch; nothing was written to {out}")
        final, quant, accuracy = float_path, None, None
        if quantize:
            final = tmp / "quantized" / out.name
            final.parent.mkdir()
            qinfo = _write(source, fmt, final, opset=opset, quantize=quantize, calibration=calibration,
                           float_path=float_path)
            float_diff = diff
            quant, diff = _quantization_report(fmt, float_path, float_run, final, source, batches, dataset,
                                               split_name, seed, qinfo)
            quant["float_max_abs_diff"] = float_diff
        elif dataset is not None:
            split_used = eval_split(dataset, split_name)
            x, y = split_arrays(source, split_used, seed=seed)
            accuracy = {"split": split_used.name, "n": len(y), "accuracy": _accuracy(float_run, x, y)[0]}

        meta = source.metadata()
        report = ExportReport(
            path=str(out), format=fmt, framework=source.framework, source=source.description,
            exporter=info["exporter"], layout=source.layout, input_name=meta["input_name"],
            output_name=meta["output_name"], input_shape=source.input_shape(), batch_sizes=list(BATCH_SIZES),
            max_abs_diff=diff, tolerance=None if quantize else tolerance, ok=True, file_size_bytes=size_bytes(final),
            opset=info.get("opset"), quantize=quantize, quantization=quant, accuracy=accuracy, metadata=meta,
            versions=versions(*_PACKAGES[fmt], *_FRAMEWORK_PACKAGES[source.framework]),
        )
        del float_run
        _place(final, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report.seconds = time.perf_counter() - started

    write(report, out)
    log.info("%s", report.summary())
    return report


def _quantization_report(fmt: str, float_path: Path, float_run: Any, q_path: Path, source: Any,
                         batches: list[np.ndarray], dataset: Any, split_name: str, seed: int,
                         qinfo: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Size, latency (batch of 1) and, with data, accuracy of the float export against the quantized one."""

    q_run = _runner(fmt, q_path)
    diff = max_abs_diff(q_run, source.predict, batches)
    one = source.batch(1, seed)
    report: dict[str, Any] = {
        **qinfo,
        "size_before_bytes": size_bytes(float_path), "size_after_bytes": size_bytes(q_path),
        "latency_ms_before": latency_ms(_runner(fmt, float_path, LATENCY_THREADS), one),
        "latency_ms_after": latency_ms(_runner(fmt, q_path, LATENCY_THREADS), one),
        "latency_batch": 1, "latency_threads": LATENCY_THREADS,
    }
    report["size_ratio"] = report["size_after_bytes"] / report["size_before_bytes"]
    if dataset is not None:
        split = eval_split(dataset, split_name)
        x, y = split_arrays(source, split, seed=seed)
        before, pred_before = _accuracy(float_run, x, y)
        after, pred_after = _accuracy(q_run, x, y)
        report.update(split=split.name, n=len(y), accuracy_before=before, accuracy_after=after,
                      accuracy_delta=after - before, top1_agreement=float((pred_before == pred_after).mean()))
    return report, diff


class _CallableModule(types.ModuleType):
    """``import zoo_core.export`` makes ``zoo_core.export`` this module: calling it runs :func:`export`."""

    def __call__(self, *args: Any, **kwargs: Any) -> ExportReport:
        return export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
