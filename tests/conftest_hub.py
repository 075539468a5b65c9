"""Pytest fixtures for tests that drive the real ``huggingface_hub`` client against ``tests.hub_server``.

Use from any test module or conftest with ``pytest_plugins = ["tests.conftest_hub"]``.

Fixtures:
- ``hub_server``: a fresh :class:`~tests.hub_server.HubServer` on 127.0.0.1 (free port), with users ``alice``
  (token ``ALICE_TOKEN``) and ``bob`` (``BOB_TOKEN``) and org ``zoo-org`` (member: alice). Yields the server
  (``.url``, ``.stop()``, ``.start()``, ``.add_token(user, token)``, ``.fail_next_downloads(n)``, ...).
- ``hub_env``: isolates the client: HF_HOME/cache/token paths in a tmp dir, HF_TOKEN unset, Xet disabled, online,
  no agent-registry fetch. Yields a :class:`HubEnv` (``.home``, ``.cache_dir``, ``.set_offline()``,
  ``.use_endpoint(url)``).
- ``hub``: both together, with the client's default endpoint pointed at the server (so helpers that take no
  ``endpoint=``, such as ``ModelCard.load``, reach it too). Yields the ``HubServer``.
- ``no_retry_sleep``: makes the client's retry/resume back-off sleeps instant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_server import HubServer

ALICE_TOKEN = "hf_alice_test_token"
BOB_TOKEN = "hf_bob_test_token"
HUB_TOKENS = {ALICE_TOKEN: "alice", BOB_TOKEN: "bob"}
HUB_ORGS = {"zoo-org": ["alice"]}

_ENV_VARS_TO_UNSET = (
    "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
    "HF_ASSETS_CACHE", "HUGGINGFACE_ASSETS_CACHE", "HF_XET_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
    "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT", "HF_ENDPOINT",
)


class HubEnv:
    """An isolated huggingface_hub client configuration (undone by ``monkeypatch`` at teardown).

    ``huggingface_hub.constants`` reads the environment once, at import, so the fixture patches both the
    environment (for subprocesses) and the already-computed constants (for this process).
    """

    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch):
        from huggingface_hub import constants
        from huggingface_hub.utils import _cache_assets, _cache_manager, _detect_agent

        self.home, self.cache_dir, self._mp, self._constants = home, home / "hub", monkeypatch, constants
        for var in _ENV_VARS_TO_UNSET:
            monkeypatch.delenv(var, raising=False)
        for var, value in {"HF_HOME": str(home), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                           "HF_HUB_DISABLE_UPDATE_CHECK": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}.items():
            monkeypatch.setenv(var, value)
        paths = {
            "HF_HOME": home, "HF_HUB_CACHE": home / "hub", "HUGGINGFACE_HUB_CACHE": home / "hub",
            "default_cache_path": home / "hub", "HF_ASSETS_CACHE": home / "assets",
            "HUGGINGFACE_ASSETS_CACHE": home / "assets", "HF_TOKEN_PATH": home / "token",
            "HF_STORED_TOKENS_PATH": home / "stored_tokens", "HF_XET_CACHE": home / "xet",
            "AGENT_HARNESSES_PATH": home / ".agent_harnesses.json",
        }
        for name, value in paths.items():
            monkeypatch.setattr(constants, name, str(value))
        for name, value in {"HF_HUB_DISABLE_XET": True, "HF_HUB_OFFLINE": False, "HF_HUB_DISABLE_TELEMETRY": True,
                            "HF_HUB_DISABLE_IMPLICIT_TOKEN": False, "HF_HUB_ETAG_TIMEOUT": 10,
                            "HF_HUB_DOWNLOAD_TIMEOUT": 10}.items():
            monkeypatch.setattr(constants, name, value)
        monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", str(home / "hub"))
        monkeypatch.setattr(_cache_assets, "HF_ASSETS_CACHE", str(home / "assets"))
        # The first request builds a user agent, which fetches an "agent harnesses" registry from huggingface.co:
        # pre-fill the in-process cache so nothing leaves the machine.
        monkeypatch.setattr(_detect_agent, "_registry", {"standardEnvVars": [], "harnesses": {}})

    def set_offline(self, offline: bool = True) -> None:
        """HF_HUB_OFFLINE semantics: every HTTP call from the client raises ``OfflineModeIsEnabled``."""
        self._mp.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
        self._mp.setattr(self._constants, "HF_HUB_OFFLINE", offline)

    def use_endpoint(self, url: str) -> None:
        """Make ``url`` the client's default endpoint (what ``HF_ENDPOINT`` would have done before import)."""
        url = url.rstrip("/")
        self._mp.setenv("HF_ENDPOINT", url)
        self._mp.setattr(self._constants, "ENDPOINT", url)
        template = url + "/{repo_id}/resolve/{revision}/{filename}"
        self._mp.setattr(self._constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)

    def snapshot_files(self, repo_id: str, repo_type: str = "model") -> list[Path]:
        """Every file (or symlink) under the repo's ``snapshots/`` dir in the cache."""
        folder = self.cache_dir / f"{repo_type}s--{repo_id.replace('/', '--')}" / "snapshots"
        return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()) if folder.exists() else []

    def incomplete_files(self) -> list[Path]:
        return sorted(self.cache_dir.rglob("*.incomplete")) if self.cache_dir.exists() else []


@pytest.fixture
def hub_server() -> Iterator[HubServer]:
    server = HubServer(tokens=HUB_TOKENS, orgs=HUB_ORGS)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        assert not server.errors, "hub server raised:\n" + "\n".join(server.errors)


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEnv]:
    from huggingface_hub.utils import close_session

    env = HubEnv(tmp_path / "hf_home", monkeypatch)
    close_session()  # no pooled connection survives from a previous test
    try:
        yield env
    finally:
        close_session()


@pytest.fixture
def hub(hub_server: HubServer, hub_env: HubEnv) -> HubServer:
    hub_env.use_endpoint(hub_server.url)
    return hub_server


class _InstantTime:
    """Stands in for the ``time`` module inside huggingface_hub's retry loops: same clock, no sleeping."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> _InstantTime:
    """Skip the client's back-off sleeps (1 s per download resume, 1+2+4+8+8 s for a failed metadata retry)."""
    from huggingface_hub import file_download
    from huggingface_hub.utils import _http

    fake = _InstantTime()
    monkeypatch.setattr(file_download, "time", fake)
    monkeypatch.setattr(_http, "time", fake)
    return fake


__all__ = ["ALICE_TOKEN", "BOB_TOKEN", "HUB_ORGS", "HUB_TOKENS", "HubEnv", "hub", "hub_env", "hub_server",
           "no_retry_sleep"]
