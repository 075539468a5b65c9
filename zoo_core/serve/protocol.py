"""The Open Inference Protocol (KServe v2, Triton's HTTP/REST protocol): parsing an infer request (JSON, or JSON
followed by raw tensors: the binary tensor data extension) and writing its response. No web framework here: the
app passes bytes and headers in and gets a :class:`ProtocolError` (HTTP status + message) or the answer out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

INPUT_NAME = "pixel_values"  # the same tensor names as the zoo's ONNX/SavedModel exports
OUTPUT_NAME = "logits"
HEADER_LENGTH = "inference-header-content-length"


class ProtocolError(Exception):
    """A request the server refuses: ``status`` (4xx/5xx) and a one-line message for ``{"error": ...}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class InferRequest:
    id: str | None
    x: np.ndarray  # float32, (N, *input_shape)
    binary_output: bool


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(400, f"{what} is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolError(400, f"{what} must be a JSON object")
    return obj


def parse_infer(body: bytes, header_length: str | None, input_shape: tuple[int, ...],
                max_batch_size: int) -> InferRequest:
    """Check an infer request against the model (one FP32 input ``pixel_values`` of shape [N, *input_shape],
    1 <= N <= max_batch_size) and return its tensor."""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            raise ProtocolError(400, f"Inference-Header-Content-Length {header_length!r} is not a number") from None
        if not 0 < n <= len(body):
            raise ProtocolError(400, f"Inference-Header-Content-Length {n} does not fit a body of {len(body)} bytes")
        header, binary = _json(body[:n], "the inference header"), memoryview(body)[n:]
    else:
        header, binary = _json(body, "the request body"), memoryview(b"")
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise ProtocolError(400, f"the request must have exactly one input, {INPUT_NAME!r}")
    spec = inputs[0]
    if spec.get("name") != INPUT_NAME:
        raise ProtocolError(400, f"unknown input {spec.get('name')!r}; this model's input is {INPUT_NAME!r}")
    if spec.get("datatype") != "FP32":
        raise ProtocolError(400, f"input datatype {spec.get('datatype')!r}; this model takes FP32")
    shape = spec.get("shape")
    want = ["N", *input_shape]
    if (not isinstance(shape, list) or len(shape) != len(want) or not all(isinstance(s, int) for s in shape)
            or tuple(shape[1:]) != tuple(input_shape)):
        raise ProtocolError(400, f"input shape {shape}; this model takes {want} (N images in the model's layout)")
    if not 1 <= shape[0] <= max_batch_size:
        raise ProtocolError(400, f"batch of {shape[0]} images; send 1 to {max_batch_size} per request")
    count = int(np.prod(shape))
    params = spec.get("parameters") or {}
    if "binary_data_size" in params:
        size = params["binary_data_size"]
        if size != count * 4 or len(binary) != size:
            raise ProtocolError(400, f"binary input of {len(binary)} bytes (binary_data_size {size}); shape {shape} "
                                f"in FP32 needs {count * 4}")
        x = np.frombuffer(binary, dtype="<f4").reshape(shape)
    else:
        if len(binary):
            raise ProtocolError(400, "binary data after the header but the input has no binary_data_size parameter")
        data = spec.get("data")
        if data is None:
            raise ProtocolError(400, "the input has neither data nor a binary_data_size parameter")
        try:
            x = np.asarray(data, dtype=np.float32)
        except (ValueError, TypeError):
            raise ProtocolError(400, "input data must be numbers (a flat or nested list)") from None
        if x.size != count:
            raise ProtocolError(400, f"input data has {x.size} values; shape {shape} needs {count}")
        x = x.reshape(shape)
    if not np.isfinite(x).all():
        raise ProtocolError(400, "input data contains NaN or infinity")
    binary_output = bool((header.get("parameters") or {}).get("binary_data_output", False))
    for out in header.get("outputs") or []:
        if not isinstance(out, dict) or out.get("name") != OUTPUT_NAME:
            name = out.get("name") if isinstance(out, dict) else out
            raise ProtocolError(400, f"unknown output {name!r}; this model's output is {OUTPUT_NAME!r}")
        oparams = out.get("parameters") or {}
        if oparams.get("classification"):
            raise ProtocolError(400, "the classification extension is not supported; POST the image to "
                                "/v2/models/{name}/classify for top-k labels")
        binary_output = bool(oparams.get("binary_data", binary_output))
    rid = header.get("id")
    return InferRequest(str(rid) if rid is not None else None, np.ascontiguousarray(x, np.float32), binary_output)


def infer_response(model_name: str, version: str, request: InferRequest,
                   logits: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers: JSON, or a JSON header followed by the raw little-endian FP32 logits."""
    y = np.ascontiguousarray(logits, dtype="<f4")
    out: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": "FP32", "shape": list(y.shape)}
    head: dict[str, Any] = {"model_name": model_name, "model_version": version, "outputs": [out]}
    if request.id is not None:
        head["id"] = request.id
    if not request.binary_output:
        out["data"] = y.ravel().tolist()
        return json.dumps(head).encode(), {"content-type": "application/json"}
    raw = y.tobytes()
    out["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps(head).encode()
    return header + raw, {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}
