"""Running `zoo serve` in tests: in this process (a uvicorn thread on a free port) or as a real `zoo serve`
subprocess (port 0, the URL read from its first line)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
from PIL import Image


@contextlib.contextmanager
def app_server(app) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 (a free port) in a thread; yields its base URL; stops it after."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    sock = config.bind_socket()
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


class ServeProcess:
    """A `zoo serve ...` subprocess on a free port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
        self.proc = subprocess.Popen([sys.executable, "-m", "zoo_core", "serve", *args, "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
        self.first_line = self.proc.stdout.readline()  # printed once the socket is bound (or empty on failure)
        match = re.search(r"http://([\d.]+):(\d+)", self.first_line)
        if not match:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=timeout)
            raise RuntimeError(f"zoo serve did not start (exit {self.proc.returncode}): {err[-3000:]}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}"
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.__exit__()  # no server left behind when the test fails here
            raise

    def _wait_ready(self, timeout: float) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):  # workers may still be loading
                if requests.get(f"{self.url}/v2/health/ready", timeout=5).status_code == 200:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"zoo serve exited {self.proc.returncode}: {self.proc.stderr.read()[-3000:]}")
            time.sleep(0.05)
        raise RuntimeError("zoo serve did not become ready")

    def stop(self, timeout: float = 60) -> tuple[int, str, str]:
        """SIGTERM, then wait; (exit code, rest of stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()
