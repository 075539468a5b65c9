"""Running ``zoo serve``: load and warm up the model (a load failure is an error before anything binds), bind the
socket, run uvicorn in this process or in ``workers`` processes; SIGTERM/Ctrl-C stop it gracefully (uvicorn stops
accepting, the requests in flight are answered, then the batcher drains and stops)."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ZooError
from ..factory import load
from ..frameworks import require
from ..models import spec_of
from ..prediction import Runner
from .app import API_KEY_ENV, CONFIG_ENV, ServeConfig, create_app, warm_up

log = logging.getLogger("zoo.serve")
GRACEFUL_SECONDS = 30  # at most this long for requests in flight after SIGTERM


def _uvicorn():
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise ZooError("zoo serve needs fastapi and uvicorn, which are not installed; install them with: "
                       "pip install 'zoo[serve]'") from None
    return uvicorn


def check(config: ServeConfig) -> None:
    if config.max_batch_size < 1 or config.max_delay_ms < 0 or config.workers < 1 or config.max_queue < 1:
        raise ZooError("--max-batch-size, --workers and --max-queue must be >= 1 and --max-delay-ms >= 0")
    if config.max_body_bytes < 1024 or config.max_image_pixels < 1 or config.top_k < 1:
        raise ZooError("--max-body-mb, --max-image-pixels and --top-k must be positive")
    if config.max_queue < config.max_batch_size:
        raise ZooError(f"--max-queue {config.max_queue} is below --max-batch-size {config.max_batch_size}; "
                       "a full batch could never wait")


def prepare(config: ServeConfig) -> Runner:
    """The model loaded and run once: any problem is a ZooError here, not a server that answers 500."""
    check(config)
    require(config.framework)
    model = load(config.model, config.framework)
    runner = Runner(model)
    try:
        warm_up(runner)
    except Exception as exc:
        raise ZooError(f"{config.model} loaded but cannot run a batch of one image "
                       f"{list(runner.input_shape)}: {type(exc).__name__}: {exc}") from None
    return runner


def serve(config: ServeConfig, *, announce: Callable[[str], Any] = print) -> None:
    """Serve until SIGTERM/SIGINT. ``announce`` gets the URL once the socket is bound (port 0: a free port)."""
    uvicorn = _uvicorn()
    runner = prepare(config)
    name = config.name or spec_of(runner.model).entry.name
    common = {"host": config.host, "port": config.port, "timeout_graceful_shutdown": GRACEFUL_SECONDS,
              "log_level": "warning" if log.getEffectiveLevel() >= logging.WARNING else "info",
              "server_header": False}
    if config.workers > 1:
        del runner  # each worker process loads its own copy; this one only proved the model loads
        os.environ[CONFIG_ENV] = json.dumps(config.public())
        if config.api_key:
            os.environ[API_KEY_ENV] = config.api_key
        uconfig = uvicorn.Config("zoo_core.serve.app:app_from_env", factory=True, workers=config.workers, **common)
    else:
        uconfig = uvicorn.Config(create_app(runner, config), **common)
    sock = uconfig.bind_socket()
    sock.listen(uconfig.backlog)  # connections made from now on wait in the backlog until uvicorn accepts them
    host, port = sock.getsockname()[:2]
    auth = "API key required" if config.api_key else "no API key"
    announce(f"zoo serve: {name} ({config.framework}) on http://{host}:{port} ({config.workers} worker"
             f"{'s' if config.workers > 1 else ''}, batches up to {config.max_batch_size} images / "
             f"{config.max_delay_ms:g} ms, {auth}); SIGTERM or Ctrl-C stops it")
    sys.stdout.flush()
    if config.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(uconfig, sockets=[sock]).run()
    else:
        uvicorn.Server(uconfig).run(sockets=[sock])
