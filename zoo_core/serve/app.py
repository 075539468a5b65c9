"""The ASGI app of ``zoo serve`` (FastAPI): Open Inference Protocol routes, ``/classify``, the page at ``/``.

Routes (``{name}`` is the served model's name; ``/versions/1`` may be inserted after it):

- ``GET /v2/health/live``, ``GET /v2/health/ready``: no API key needed
- ``GET /v2``: server metadata; ``GET /v2/models/{name}``: model metadata; ``GET /v2/models/{name}/ready``
- ``POST /v2/models/{name}/infer``: FP32 ``pixel_values`` in the framework's layout -> ``logits`` (JSON or binary)
- ``GET /v2/models/{name}/stats``: inference/execution counts and batch sizes (Triton's statistics extension)
- ``POST /v2/models/{name}/classify?top_k=5``: the raw bytes of an image file -> the top-k labels
- ``GET /``: a page to drop or pick an image and see the top-5 as a bar chart

Every error is ``{"error": "..."}`` with a 4xx status (5xx only for a failing model); the server keeps serving.
Nothing from a request touches the filesystem: images are decoded from memory.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the route functions' annotations (``Request``, imported
# inside create_app so that importing this module needs no fastapi) at definition time.
import asyncio
import hmac
import io
import json
import logging
import os
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from .._version import __version__
from ..factory import load
from ..models import spec_of
from ..prediction import Runner, top_k
from . import protocol
from .batcher import DynamicBatcher, QueueFull
from .protocol import ProtocolError

log = logging.getLogger("zoo.serve")

API_KEY_ENV = "ZOO_API_KEY"
CONFIG_ENV = "ZOO_SERVE_CONFIG"  # the config for worker processes (``--workers N``), JSON without the API key
VERSION = "1"
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready", "/"})  # the page is static; its API calls need the key


@dataclass
class ServeConfig:
    """Everything ``zoo serve`` takes. ``name`` defaults to the model's registry name."""

    model: str
    framework: str = "torch"
    name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch_size: int = 32
    max_delay_ms: float = 5.0
    workers: int = 1
    max_body_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 25_000_000
    max_queue: int = 1024
    top_k: int = 5
    api_key: str | None = None

    def public(self) -> dict[str, Any]:
        """The config without the API key (for the environment of worker processes and for logs)."""
        return {k: v for k, v in asdict(self).items() if k != "api_key"}


def model_metadata(runner: Runner, name: str, framework: str) -> dict[str, Any]:
    return {
        "name": name,
        "versions": [VERSION],
        "platform": f"zoo_{framework}",
        "inputs": [{"name": protocol.INPUT_NAME, "datatype": "FP32", "shape": [-1, *runner.input_shape]}],
        "outputs": [{"name": protocol.OUTPUT_NAME, "datatype": "FP32", "shape": [-1, len(runner.labels)]}],
        "parameters": {"layout": runner.layout, "labels": runner.labels},
    }


async def read_body(request: Any, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProtocolError(413, f"request body of {int(declared)} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProtocolError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_image(data: bytes, max_pixels: int):
    """A PIL image from the bytes of an image file (fully decoded), refusing huge ones before decoding."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ProtocolError(400, "empty body; send the bytes of an image file (PNG, JPEG, ...)")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ProtocolError(413, f"image is over the limit of {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ProtocolError(400, "the body is not an image file PIL can read (send PNG, JPEG, BMP, GIF, TIFF, "
                            "WebP bytes)") from None
    w, h = img.size
    if w * h > max_pixels:
        raise ProtocolError(413, f"image of {w}x{h} pixels is over the limit of {max_pixels} pixels")
    try:
        img.load()
    except Exception as exc:  # truncated or corrupt data: PIL raises several types
        raise ProtocolError(400, f"the image cannot be decoded ({type(exc).__name__})") from None
    return img


def page_html() -> str:
    return resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")


def create_app(runner: Runner, config: ServeConfig):
    """The FastAPI app serving ``runner``'s model under ``config`` (limits, batching, API key)."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    name = config.name or spec_of(runner.model).entry.name
    framework = spec_of(runner.model).framework
    batcher = DynamicBatcher(runner.logits, config.max_batch_size, config.max_delay_ms, config.max_queue)
    metadata = model_metadata(runner, name, framework)
    page = page_html()

    @asynccontextmanager
    async def lifespan(app):
        await batcher.start()
        log.info("serving %s (%s) with dynamic batching: up to %d images, %.1f ms", name, framework,
                 config.max_batch_size, config.max_delay_ms)
        try:
            yield
        finally:
            await batcher.stop()
            log.info("stopped after %d requests in %d forward passes", batcher.stats.requests,
                     batcher.stats.execution_count)

    app = FastAPI(title="zoo serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.batcher = batcher

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(ProtocolError)
    async def _protocol_error(request: Request, exc: ProtocolError):
        return error(exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = exc.detail if exc.status_code != 404 else f"no route {request.method} {request.url.path}"
        return error(exc.status_code, str(message))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
        return error(400, f"bad request: {problems}")

    @app.middleware("http")
    async def _api_key(request: Request, call_next):
        if config.api_key and request.url.path not in OPEN_PATHS:
            given = request.headers.get("authorization", "")
            expected = f"Bearer {config.api_key}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                reason = "missing" if not given else "wrong"
                return error(401, f"{reason} API key; send the header 'Authorization: Bearer <key>'",
                             {"www-authenticate": "Bearer"})
        return await call_next(request)

    def check_model(model_name: str, version: str | None = None) -> None:
        if model_name != name:
            raise ProtocolError(404, f"unknown model {model_name!r}; this server serves {name!r}")
        if version not in (None, "", VERSION):
            raise ProtocolError(404, f"model {name!r} has no version {version!r}; its version is {VERSION!r}")

    async def run_batch(x: np.ndarray) -> np.ndarray:
        try:
            return await batcher.submit(x)
        except QueueFull as exc:
            raise ProtocolError(503, f"server busy: {exc}; retry later") from None
        except RuntimeError as exc:
            if not batcher.running:
                raise ProtocolError(503, "the server is shutting down") from None
            raise ProtocolError(500, f"the model failed: {exc}") from None
        except Exception as exc:
            raise ProtocolError(500, f"the model failed: {type(exc).__name__}: {exc}") from None

    @app.get("/v2/health/live")
    async def live():
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready():
        if not batcher.running:
            return error(503, "not ready")
        return {"ready": True}

    @app.get("/v2")
    async def server_metadata():
        return {"name": "zoo", "version": __version__, "extensions": ["binary_tensor_data", "statistics"]}

    @app.get("/v2/models/{model_name}")
    @app.get("/v2/models/{model_name}/versions/{version}")
    async def get_model_metadata(model_name: str, version: str | None = None):
        check_model(model_name, version)
        return metadata

    @app.get("/v2/models/{model_name}/ready")
    @app.get("/v2/models/{model_name}/versions/{version}/ready")
    async def model_ready(model_name: str, version: str | None = None):
        check_model(model_name, version)
        if not batcher.running:
            return error(503, f"model {name!r} is not ready")
        return {"name": name, "ready": True}

    @app.get("/v2/models/{model_name}/stats")
    @app.get("/v2/models/{model_name}/versions/{version}/stats")
    async def stats(model_name: str, version: str | None = None):
        check_model(model_name, version)
        s = batcher.stats
        return {"model_stats": [{
            "name": name, "version": VERSION, "last_inference": s.last_inference_ms,
            "inference_count": s.inference_count, "execution_count": s.execution_count,
            "request_count": s.requests,
            "batch_stats": [{"batch_size": b, "compute_infer": {"count": c}} for b, c in sorted(s.batch_sizes.items())],
        }]}

    @app.post("/v2/models/{model_name}/infer")
    @app.post("/v2/models/{model_name}/versions/{version}/infer")
    async def infer(model_name: str, request: Request, version: str | None = None):
        check_model(model_name, version)
        if request.headers.get("content-encoding", "identity") != "identity":
            raise ProtocolError(415, f"Content-Encoding {request.headers['content-encoding']!r} is not supported; "
                                "send the request uncompressed")
        body = await read_body(request, config.max_body_bytes)
        req = protocol.parse_infer(body, request.headers.get(protocol.HEADER_LENGTH), runner.input_shape,
                                   config.max_batch_size)
        logits = await run_batch(req.x)
        content, headers = protocol.infer_response(name, VERSION, req, logits)
        return Response(content, headers=headers, media_type=headers["content-type"])

    def image_batch(data: bytes) -> np.ndarray:
        return runner.image_tensor(decode_image(data, config.max_image_pixels))[None]

    @app.post("/v2/models/{model_name}/classify")
    @app.post("/v2/models/{model_name}/versions/{version}/classify")
    async def classify(model_name: str, request: Request, version: str | None = None):
        check_model(model_name, version)
        raw = request.query_params.get("top_k")
        if raw is not None and not (raw.isdigit() and int(raw) >= 1):
            raise ProtocolError(400, f"top_k={raw!r}; give a whole number >= 1")
        k = config.top_k if raw is None else int(raw)
        if request.headers.get("content-type", "").startswith("multipart/"):
            raise ProtocolError(415, "send the image file's bytes as the body (curl --data-binary @image.jpg), "
                                "not a multipart form")
        body = await read_body(request, config.max_body_bytes)
        x = await asyncio.to_thread(image_batch, body)
        logits = await run_batch(x)
        top = top_k(logits, runner.labels, k)[0]
        return {"model_name": name, "model_version": VERSION, "predictions": [t.to_dict() for t in top]}

    @app.get("/", response_class=HTMLResponse)
    async def index():
        return HTMLResponse(page.replace("__MODEL_NAME__", json.dumps(name)))

    return app


def app_from_env():
    """The app of one worker process of ``zoo serve --workers N``: loads the model named in ``$ZOO_SERVE_CONFIG``."""
    config = ServeConfig(**json.loads(os.environ[CONFIG_ENV]), api_key=os.environ.get(API_KEY_ENV) or None)
    runner = Runner(load(config.model, config.framework))
    warm_up(runner)
    return create_app(runner, config)


def warm_up(runner: Runner) -> None:
    """One forward pass of a zero batch: builds Keras' graph / torch's kernels before the first request, and proves
    the model runs."""
    runner.logits(np.zeros((1, *runner.input_shape), np.float32))
