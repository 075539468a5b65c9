"""``zoo serve``: a model behind the Open Inference Protocol (KServe v2 / Triton HTTP) with dynamic batching, a
``/classify`` route for image files and a page to try it. FastAPI and uvicorn are imported only when an app is
created (``pip install 'zoo[serve]'``)."""

from __future__ import annotations

from .app import ServeConfig, create_app
from .batcher import DynamicBatcher
from .server import serve

__all__ = ["DynamicBatcher", "ServeConfig", "create_app", "serve"]
