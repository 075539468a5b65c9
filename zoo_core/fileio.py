"""Safe file writes: atomic files and directories with the umask's modes, strict JSON, directory locks, writable
output folders, sha256, and the zoo's cache folder.

Layer 0: the standard library and the zoo's errors only. Every file the zoo writes goes through here, so a reader
sees the old content or the new, never half of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ZooError

CACHE_ENV = "ZOO_CACHE"


def fsync_write(path: Path, data: bytes) -> None:
    """Write bytes and flush them to disk before returning."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to a temp file beside ``path``, fsync, then rename over it: readers see old or new, never half."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        fsync_write(Path(tmp), data)
        _honour_umask(Path(tmp), directory=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write` for text (UTF-8)."""
    atomic_write(path, text.encode())


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a new temporary directory beside ``target``; on success it is renamed to ``target`` (which must not
    exist), on any error it is removed: the directory appears whole or not at all."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        _honour_umask(tmp, directory=True)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def removed_if_unfinished(directory: Path | None, finished: str) -> Iterator[None]:
    """Remove ``directory`` when the block fails with an error (not Ctrl-C) and the folder did not exist before it
    and holds no ``finished`` file yet: a folder the zoo made is never left half-made."""
    created = directory is not None and not Path(directory).exists()
    try:
        yield
    except Exception:
        if created and not (Path(directory) / finished).exists():
            shutil.rmtree(directory, ignore_errors=True)
        raise


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_dir() -> Path:
    """Where the zoo keeps files it can rebuild (parsed built-in datasets): ``$ZOO_CACHE``, else
    ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zoo"


# ------------------------------------------------------------------------------------------------ permissions


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux), else by setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _honour_umask(path: Path, directory: bool) -> None:
    """Give a temp file (0600) or directory (0700) the mode a plain open()/mkdir() would have given it."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


# --------------------------------------------------------------------------------------------------- JSON


def strict_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, inf) replaced by None: the JSON the zoo writes is strict JSON,
    readable by any parser (``NaN`` is not JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return obj


def json_bytes(obj: Any, indent: int | None = 2) -> bytes:
    """Strict JSON (see :func:`strict_json`), indented, with a final newline."""
    return (json.dumps(strict_json(obj), indent=indent, allow_nan=False) + "\n").encode()


def write_json(path: Path, obj: Any, indent: int | None = 2) -> None:
    """Write strict JSON atomically."""
    atomic_write(path, json_bytes(obj, indent))


# ------------------------------------------------------------------------------------------------- run locks

LOCK_NAME = ".zoo.lock"
_HELD: dict[str, int] = {}  # directories this process has locked -> depth


class DirectoryLock:
    """An exclusive lock on a directory the zoo writes (a training run, an export): a second writer fails at once,
    naming the holder. An OS file lock (flock), so it is released when its process ends, however it ends; the
    lock file, a hidden file of a few bytes, stays in the directory."""

    def __init__(self, directory: Path, action: str) -> None:
        self.directory, self.action = Path(directory), action
        self._fd: int | None = None
        self._key = ""

    def __enter__(self) -> DirectoryLock:
        import fcntl

        key = os.path.realpath(self.directory)
        if key in _HELD:  # this process holds it already (the zoo command around finetune): re-entrant
            _HELD[key] += 1
            self._key = key
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise ZooError(f"{self.directory} is being written by {holder}; wait for it to finish, or use another "
                           "directory") from None
        info = f"pid {os.getpid()} on {socket.gethostname()} ({self.action}, since {time.strftime('%H:%M:%S')})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        self._fd, self._key = fd, key
        _HELD[key] = 1
        return self

    def __exit__(self, *exc: object) -> None:
        _HELD[self._key] -= 1
        if _HELD[self._key] == 0 and self._fd is not None:
            del _HELD[self._key]
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


# ------------------------------------------------------------------------------------------------ output paths


def zoo_files(directory: Path) -> list[str]:
    """The entries of a directory, without the zoo's own lock file."""
    return sorted(p.name for p in Path(directory).iterdir() if p.name != LOCK_NAME)


def check_writable_dir(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a directory the zoo can create or write into, checked without creating anything: one-line
    errors for a path that is a file, or on a read-only filesystem or a folder without write permission."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ZooError(f"{what} {path} is a file; give a directory path")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ZooError(f"{what} {path}: {existing} is a file, so the folder cannot be made; give another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ZooError(f"cannot write {what} {path}: {existing} is not writable (read-only filesystem or no "
                       "permission); choose a writable location")
    return path
