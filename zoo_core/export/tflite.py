"""TFLite: ``tf.lite.TFLiteConverter`` on the zoo's SavedModel of the Keras model (NHWC, dynamic batch), builtin ops
only, so the file runs on the plain TFLite runtime without the Flex (select TF ops) delegate.

Quantization: ``dynamic`` is TFLite's dynamic-range mode (int8 weights, float activations, no data needed);
``int8`` is full-integer quantization (int8 weights and activations, ranges calibrated on a representative dataset
drawn from the user's data); inputs and outputs stay float32 so the same preprocessing applies.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write
from ..frameworks import import_tensorflow
from . import savedmodel
from .report import ExportError, Runner
from .source import Source

EXPORTER = "tf.lite.TFLiteConverter.from_saved_model (TFLITE_BUILTINS)"
_MISSING_OP = re.compile(r"'(tf\.\w+)' op is neither a custom op nor a flex op")
_FAILED_OP = re.compile(r"'(tfl?\.\w+)' op (?:is not supported|failed|.*not supported)")


def _failure(exc: BaseException) -> ExportError:
    text = str(exc)
    found = _MISSING_OP.search(text) or _FAILED_OP.search(text)
    if found:
        op = found.group(1)
        return ExportError(f"cannot export to tflite: TFLite has no builtin op for {op} (the converter would need "
                           "the Flex select-TF-ops delegate); rewrite that part of the model with builtin ops")
    first = next((line for line in text.splitlines() if line.strip()), type(exc).__name__)
    return ExportError(f"cannot export to tflite: {first}")


def write(source: Source, path: Path, quantize: str | None = None, calibration: np.ndarray | None = None
          ) -> dict[str, Any]:
    """Convert and write ``path`` atomically. ``calibration``: NHWC float batches for ``quantize="int8"``."""

    tf = import_tensorflow()
    with tempfile.TemporaryDirectory(prefix=".zoo-tflite-", dir=path.parent) as tmp:
        # Through a SavedModel, as Keras' own LiteRT export does: from_concrete_functions on a live Keras model
        # keeps the weights as resource variables the file does not contain (NaN logits in another process).
        savedmodel.write(source, Path(tmp) / "savedmodel")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "savedmodel"))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        info, blob = _convert(tf, converter, quantize, calibration)
    atomic_write(path, blob)
    return info


def _convert(tf: Any, converter: Any, quantize: str | None, calibration: np.ndarray | None) -> tuple[dict, bytes]:
    info: dict[str, Any] = {"exporter": EXPORTER}
    if quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        info["quantization_method"] = "TFLite dynamic range (int8 weights, float activations)"
    elif quantize == "int8":
        if calibration is None or not len(calibration):
            raise ExportError("full int8 quantization calibrates activation ranges on real images: pass data "
                              "(--data mnist5k or an image folder)")

        def representative() -> Iterator[list[np.ndarray]]:
            for i in range(len(calibration)):
                yield [calibration[i : i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        info["quantization_method"] = (f"TFLite full integer (int8 weights and activations, calibrated on "
                                       f"{len(calibration)} images; float32 input/output)")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            blob = converter.convert()
    except Exception as exc:
        raise _failure(exc) from None
    return info, blob


def runner(path: Path, threads: int | None = None) -> Runner:
    """Run the file in ``tf.lite.Interpreter`` (``threads``: its thread count), resizing the batch axis as needed."""
    tf = import_tensorflow()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
    if any(d["dtype"] == np.object_ for d in interpreter.get_tensor_details()):
        raise ExportError(f"{path.name} keeps weights as resource variables instead of constants; it would not run "
                          "in another process")
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    shape: list[tuple[int, ...]] = [()]

    def run(x: np.ndarray) -> np.ndarray:
        if tuple(x.shape) != shape[0]:
            interpreter.resize_tensor_input(inp, list(x.shape))
            interpreter.allocate_tensors()
            shape[0] = tuple(x.shape)
        interpreter.set_tensor(inp, np.ascontiguousarray(x, np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(out).copy()

    return run
