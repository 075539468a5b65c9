"""`zoo serve`: a model over HTTP (Open Inference Protocol / KServe v2), with dynamic batching and a page at /."""

from __future__ import annotations

import argparse
import contextlib
import os

from ..serve import server
from ..serve.app import API_KEY_ENV, ServeConfig
from .app import command


def _serve_args(p: argparse.ArgumentParser) -> None:
    d = ServeConfig(model="")
    p.add_argument("model", help="checkpoint directory, registry name or hf:// handle")
    p.add_argument("--framework", "-f", default="torch", help="torch or tf")
    p.add_argument("--name", help="the model's name in URLs (default: its registry name, e.g. simplecnn)")
    p.add_argument("--host", default=d.host, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=d.port, help="port (0: a free one, printed at start)")
    p.add_argument("--max-batch-size", type=int, default=d.max_batch_size,
                   help="images per forward pass, and per infer request (1: no dynamic batching)")
    p.add_argument("--max-delay-ms", type=float, default=d.max_delay_ms,
                   help="how long a request may wait for others to fill a batch")
    p.add_argument("--workers", type=int, default=d.workers, help="server processes, each with its own model")
    p.add_argument("--api-key", help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV} if set)")
    p.add_argument("--max-body-mb", type=float, default=d.max_body_bytes / 2**20, help="request body limit (413)")
    p.add_argument("--max-image-pixels", type=int, default=d.max_image_pixels, help="image size limit (413)")
    p.add_argument("--max-queue", type=int, default=d.max_queue, help="images waiting at most (then 503)")
    p.add_argument("--top-k", type=int, default=d.top_k, help="labels /classify returns by default")


@command("serve", "serve a model over HTTP: Open Inference Protocol (KServe v2), /classify, a page at /")(_serve_args)
def cmd_serve(args: argparse.Namespace) -> int:
    config = ServeConfig(
        model=args.model, framework=args.framework, name=args.name, host=args.host, port=args.port,
        max_batch_size=args.max_batch_size, max_delay_ms=args.max_delay_ms, workers=args.workers,
        max_body_bytes=int(args.max_body_mb * 2**20), max_image_pixels=args.max_image_pixels,
        max_queue=args.max_queue, top_k=args.top_k, api_key=args.api_key or os.environ.get(API_KEY_ENV) or None)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGTERM/SIGINT it handled, once stopped
        server.serve(config)
    print("zoo serve: stopped", flush=True)
    return 0
