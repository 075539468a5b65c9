"""ONNX from TensorFlow/Keras: Keras' own ``model.export(format="onnx")``, which runs tf2onnx underneath.

tf2onnx does not fail on a TensorFlow op it cannot convert: it logs "Unsupported ops" and writes the node as it is,
and the file then fails to load in onnxruntime. So the written graph is checked op by op against the ONNX schemas
(TF's exact ``tf.nn.gelu`` lowers to ``Erfc``, which ONNX lacks: onnx/tensorflow-onnx#2347).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from pathlib import Path
from typing import Any

from ..frameworks import import_tensorflow
from . import onnx_common
from .report import ExportError
from .source import Source

EXPORTER = 'keras.Model.export(format="onnx") (tf2onnx)'
_TF_OP = re.compile(r"Tensorflow op \[([^:\]]+): (\w+)\] is not supported")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def write(source: Source, path: Path, opset: int | None = None) -> dict[str, Any]:
    """Write ``path`` and return what the report records (exporter, opset)."""

    tf = import_tensorflow()
    model = source.model
    h, w = source.entry.input_size
    spec = tf.TensorSpec((None, h, w, source.entry.in_chans), tf.float32, name=source.metadata()["input_name"])
    collect = _Collect()
    tf2onnx_log = logging.getLogger("tf2onnx")
    tf2onnx_log.addHandler(collect)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            model.export(str(path), format="onnx", verbose=False, input_signature=[spec], opset_version=opset)
    except ImportError as exc:
        raise ExportError(f"onnx export from TensorFlow needs tf2onnx ({exc}): pip install 'zoo[export]'") from None
    except Exception as exc:
        raise ExportError(f"cannot export to onnx from tf (tf2onnx): {str(exc).splitlines()[0]}") from None
    finally:
        tf2onnx_log.removeHandler(collect)
    ops = [m.groups() for m in (_TF_OP.search(msg) for msg in collect.messages) if m]
    if ops:
        raise onnx_common.unsupported_error([(op, node) for node, op in ops], "TensorFlow via tf2onnx")
    opset_used = onnx_common.finalize(path, source.metadata(), "TensorFlow via tf2onnx")
    return {"exporter": EXPORTER, "opset": opset_used}
