"""A Hugging Face Hub-compatible HTTP server for tests (stdlib only).

The real ``huggingface_hub`` client (2.4.0) talks to it exactly as it talks to huggingface.co, over plain HTTP on
127.0.0.1. It keeps repos (models, datasets, spaces) in memory with git-like history: 40-hex commit shas, parents,
a full file snapshot per commit, branches, tags and ``refs/pr/N`` refs. See /work/shared/hub-protocol.md.

    with HubServer(tokens={"tok-alice": "alice"}) as hub:
        api = HfApi(endpoint=hub.url, token="tok-alice")
        ...

Access rules follow the Hub where the client can tell:
- an unknown ``Authorization: Bearer`` token gets 401 ``Invalid credentials in Authorization header`` on every route;
- a private (or missing) repo is ``RepoNotFound``: 401 without a token, 404 with a valid token of another user;
- writes need a token whose user owns the namespace (or belongs to the org): 401 without a token, 403 otherwise.

Test switches: ``fail_next_downloads(n)`` makes the next ``n`` GET ``/resolve/`` responses send part of the body and
drop the connection; ``stop()`` / ``start()`` take the hub down and bring it back on the same port with its state.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["Blob", "Commit", "HubServer", "Repo", "RequestRecord", "git_blob_sha1", "lfs_pointer"]

LFS_THRESHOLD = 1_000_000  # files this big (or with a NUL byte in their sample) go through LFS
GITATTRIBUTES = (
    b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.h5 filter=lfs diff=lfs merge=lfs -text\n"
    b"*.keras filter=lfs diff=lfs merge=lfs -text\n*.onnx filter=lfs diff=lfs merge=lfs -text\n"
    b"*.pt filter=lfs diff=lfs merge=lfs -text\n*.pth filter=lfs diff=lfs merge=lfs -text\n"
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.zip filter=lfs diff=lfs merge=lfs -text\n"
)
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_HEX_RE = re.compile(r"^[0-9a-f]{7,40}$")
_PR_RE = re.compile(r"^refs/pr/(\d+)$")
_UNAUTHENTICATED = "Invalid username or password."


def git_blob_sha1(data: bytes) -> str:
    """The git object id of ``data`` (what ``git hash-object`` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass(frozen=True)
class Blob:
    """File content as stored in a commit; LFS files keep their real bytes, and git sees their pointer."""

    data: bytes
    lfs: bool
    sha256: str

    @classmethod
    def make(cls, data: bytes, lfs: bool = False) -> Blob:
        return cls(data, lfs, hashlib.sha256(data).hexdigest())

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def pointer(self) -> bytes:
        return lfs_pointer(self.sha256, self.size)

    @functools.cached_property
    def oid(self) -> str:
        """Git blob id: of the pointer for LFS files, of the content otherwise."""
        return git_blob_sha1(self.pointer if self.lfs else self.data)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.oid


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, Blob]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str = field(default_factory=_now)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[int, str] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    def resolve(self, rev: str) -> str | None:
        """Commit sha for a branch, tag, ``refs/heads|tags/x``, ``refs/pr/N``, full sha or unique ≥7-hex prefix."""
        for prefix, table in (("", self.branches), ("", self.tags), ("refs/heads/", self.branches),
                              ("refs/tags/", self.tags)):
            if rev.startswith(prefix) and rev[len(prefix):] in table:
                return table[rev[len(prefix):]]
        if m := _PR_RE.match(rev):
            return self.pull_requests.get(int(m.group(1)))
        if _HEX_RE.match(rev):
            matches = [sha for sha in self.commits if sha.startswith(rev)]
            if len(matches) == 1:
                return matches[0]
        return None

    def writable_ref(self, rev: str) -> tuple[str, Any] | None:
        """("branch", name) or ("pr", n) if ``rev`` names something a commit can be pushed to."""
        name = rev[len("refs/heads/"):] if rev.startswith("refs/heads/") else rev
        if name in self.branches:
            return ("branch", name)
        if (m := _PR_RE.match(rev)) and int(m.group(1)) in self.pull_requests:
            return ("pr", int(m.group(1)))
        return None

    def ref_sha(self, ref: tuple[str, Any]) -> str:
        return self.branches[ref[1]] if ref[0] == "branch" else self.pull_requests[ref[1]]

    def set_ref(self, ref: tuple[str, Any], sha: str) -> None:
        (self.branches if ref[0] == "branch" else self.pull_requests)[ref[1]] = sha


@dataclass
class RequestRecord:
    method: str
    path: str  # raw (percent-encoded) path with query
    headers: dict[str, str]  # lower-cased names
    status: int = 0


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: Mapping[str, str] | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers, self.body = dict(headers or {}), body


@dataclass
class _Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate_at: int | None = None


def _json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


_R = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
_API = r"/api/(?P<type>models|datasets|spaces)/" + _R
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p + "$"), h)
    for m, p, h in [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("GET", r"/api/agent-harnesses", "agent_harnesses"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("GET", _API, "repo_info"),
        ("GET", _API + r"/revision/(?P<rev>[^/]+)", "repo_info"),
        ("GET", _API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
        ("POST", _API + r"/paths-info/(?P<rev>[^/]+)", "paths_info"),
        ("GET", _API + r"/refs", "refs"),
        ("GET", _API + r"/commits/(?P<rev>[^/]+)", "commits"),
        ("POST", _API + r"/tag/(?P<rev>[^/]+)", "create_tag"),
        ("DELETE", _API + r"/tag/(?P<rev>[^/]+)", "delete_tag"),
        ("POST", _API + r"/branch/(?P<rev>[^/]+)", "create_branch"),
        ("DELETE", _API + r"/branch/(?P<rev>[^/]+)", "delete_branch"),
        ("PUT", _API + r"/settings", "settings"),
        ("POST", _API + r"/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", _API + r"/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", r"/(?:(?P<prefix>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)\.git/info/lfs/objects/batch",
         "lfs_batch"),
        ("PUT", r"/_lfs/objects/(?P<oid>[0-9a-f]{64})", "lfs_put"),
        ("POST", r"/_lfs/verify/(?P<oid>[0-9a-f]{64})", "lfs_verify"),
        ("GET", r"/(?:(?P<prefix>datasets|spaces)/)?" + _R + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ]
]


class HubServer:
    """In-memory Hub on ``host:port`` (port 0 = a free port, kept across ``stop()``/``start()``).

    ``tokens`` maps bearer token -> user name; ``orgs`` maps org name -> member user names.
    """

    def __init__(self, tokens: Mapping[str, str] | None = None, *, orgs: Mapping[str, Iterable[str]] | None = None,
                 host: str = "127.0.0.1", port: int = 0, lfs_threshold: int = LFS_THRESHOLD):
        self.host, self.port, self.lfs_threshold = host, port, lfs_threshold
        self.tokens: dict[str, str] = dict(tokens or {})
        self.orgs: dict[str, set[str]] = {org: set(members) for org, members in (orgs or {}).items()}
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[RequestRecord] = []
        self.errors: list[str] = []  # tracebacks of unexpected server-side exceptions (should stay empty)
        self.lock = threading.RLock()
        self._secret = secrets.token_bytes(16)
        self._seq = itertools.count()
        self._fail_downloads, self._fail_fraction = 0, 0.5
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()

    # ---- lifecycle -------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> str:
        """Start serving (again, on the same port if it was started before); return the base URL."""
        if self._httpd is None:
            httpd = _HTTPServer((self.host, self.port), _Handler)
            httpd.hub = self
            self.port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"hub-server-{self.port}", daemon=True)
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop listening and drop open connections (state is kept: ``start()`` brings the same hub back)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self.lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test helpers ----------------------------------------------------------------------------------------
    def add_token(self, user: str, token: str | None = None) -> str:
        """Register ``token`` (generated if omitted) for ``user``; return it."""
        token = token or f"hf_{user}_{secrets.token_hex(8)}"
        with self.lock:
            self.tokens[token] = user
        return token

    def token_for(self, user: str) -> str:
        """A registered token of ``user`` (one is added if the user has none)."""
        with self.lock:
            found = next((tok for tok, name in self.tokens.items() if name == user), None)
        return found or self.add_token(user)

    def add_org(self, org: str, members: Iterable[str]) -> None:
        with self.lock:
            self.orgs.setdefault(org, set()).update(members)

    def fail_next_downloads(self, n: int = 1, fraction: float = 0.5) -> None:
        """The next ``n`` GET /resolve/ responses send ``fraction`` of their body, then drop the connection."""
        with self.lock:
            self._fail_downloads, self._fail_fraction = n, fraction

    @property
    def pending_failures(self) -> int:
        return self._fail_downloads

    def get_repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def seed_repo(self, repo_id: str, files: Mapping[str, bytes] | None = None, *, private: bool = False,
                  repo_type: str = "model", message: str = "Seed files") -> str:
        """Create ``repo_id`` (if needed) and commit ``files`` to main without HTTP; return the head sha."""
        with self.lock:
            repo = self.repos.get((repo_type, repo_id)) or self._new_repo(repo_type, repo_id, private)
            if files:
                head = repo.branches["main"]
                tree = dict(repo.commits[head].files)
                for path, data in files.items():
                    tree[path] = Blob.make(data, lfs=len(data) >= self.lfs_threshold or b"\0" in data[:512])
                    if tree[path].lfs:
                        self.lfs_objects[tree[path].sha256] = data
                repo.branches["main"] = self._add_commit(repo, head, message, "", repo.namespace, tree)
            return repo.branches["main"]

    def requests_to(self, fragment: str, method: str | None = None) -> list[RequestRecord]:
        return [r for r in self.requests if fragment in r.path and (method is None or r.method == method)]

    # ---- storage ---------------------------------------------------------------------------------------------
    def _new_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_type, repo_id, private)
        self.repos[(repo_type, repo_id)] = repo
        tree = {".gitattributes": Blob.make(GITATTRIBUTES)}
        repo.branches["main"] = self._add_commit(repo, None, "initial commit", "", repo.namespace, tree)
        return repo

    def _add_commit(self, repo: Repo, parent: str | None, title: str, message: str, author: str,
                    files: dict[str, Blob]) -> str:
        tree = "".join(f"{p}\0{b.oid}\n" for p, b in sorted(files.items()))
        seed = f"{repo.repo_id}\n{parent}\n{title}\n{message}\n{author}\n{tree}\n{next(self._seq)}\n{time.time()}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        repo.commits[sha] = Commit(sha, parent, title, message, author, _now(), files)
        return sha

    # ---- access control --------------------------------------------------------------------------------------
    def _user(self, headers: Mapping[str, str]) -> str | None:
        auth = headers.get("authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        user = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _can_write_ns(self, user: str | None, ns: str) -> bool:
        return user is not None and (user == ns or user in self.orgs.get(ns, ()))

    def _read_repo(self, user: str | None, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not self._can_write_ns(user, repo.namespace)):
            if user is None:  # the Hub answers 401 to anonymous requests, without saying whether the repo exists
                raise HubError(401, _UNAUTHENTICATED, "RepoNotFound")
            raise HubError(404, "Repository not found", "RepoNotFound")
        return repo

    def _write_repo(self, user: str | None, repo_type: str, repo_id: str) -> Repo:
        repo = self._read_repo(user, repo_type, repo_id)
        if user is None:
            raise HubError(401, _UNAUTHENTICATED)
        if not self._can_write_ns(user, repo.namespace):
            raise HubError(403, f"You don't have the rights to write to {repo_type} {repo_id}")
        return repo

    @staticmethod
    def _commit_of(repo: Repo, rev: str) -> Commit:
        sha = repo.resolve(rev)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[sha]

    # ---- request dispatch ------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, query: dict[str, list[str]], headers: Mapping[str, str],
               body: bytes, base: str) -> _Response:
        route_method = "GET" if method == "HEAD" else method
        for m, pattern, name in _ROUTES:
            match = pattern.match(raw_path)
            if match is None or m != route_method:
                continue
            args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            if "ns" in args:
                args["repo_id"] = f"{args.pop('ns')}/{args.pop('name')}"
            if "type" in args:
                args["repo_type"] = _TYPES[args.pop("type")]
            if name in ("resolve", "lfs_batch"):
                args["repo_type"] = _TYPES[args.pop("prefix", None) or "models"]
            user = None if name == "lfs_put" else self._user(headers)  # signed upload URLs carry no token
            with self.lock:
                return getattr(self, f"_h_{name}")(user=user, query=query, body=body, base=base, headers=headers,
                                                   method=method, **args)
        raise HubError(404, f"Route not found: {method} {raw_path}")

    @staticmethod
    def _body_json(body: bytes) -> dict:
        try:
            data = json.loads(body or b"{}")
        except ValueError as e:
            raise HubError(400, f"Invalid JSON body: {e}") from None
        if not isinstance(data, dict):
            raise HubError(400, "Expected a JSON object")
        return data

    # ---- handlers (called with the lock held) ----------------------------------------------------------------
    def _h_whoami(self, user, **_):
        if user is None:
            raise HubError(401, _UNAUTHENTICATED)
        orgs = [{"type": "org", "name": org, "roleInOrg": "write"} for org, m in sorted(self.orgs.items()) if user in m]
        return _json({"type": "user", "id": hashlib.md5(user.encode()).hexdigest()[:24], "name": user,
                      "fullname": user, "email": None, "emailVerified": False, "isPro": False, "orgs": orgs,
                      "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def _h_agent_harnesses(self, **_):
        return _json({"standardEnvVars": [], "harnesses": {}})

    def _h_validate_yaml(self, **_):
        return _json({"errors": [], "warnings": []})

    def _h_create_repo(self, user, body, base, **_):
        data = self._body_json(body)
        if user is None:
            raise HubError(401, _UNAUTHENTICATED)
        repo_type = data.get("type") or "model"
        if repo_type not in _PREFIX:
            raise HubError(400, f"Invalid repo type: {repo_type}")
        name, ns = str(data.get("name") or ""), data.get("organization") or user
        if not self._can_write_ns(user, ns):
            raise HubError(403, f'You don\'t have the rights to create a {repo_type} under the namespace "{ns}"')
        if not _NAME_RE.match(name) or "--" in name or ".." in name:
            raise HubError(400, f"Invalid repo name: {name!r}")
        repo_id = f"{ns}/{name}"
        url = f"{base}/{_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            raise HubError(409, f"You already created this {repo_type} repo", body={"url": url})
        private = data["visibility"] != "public" if "visibility" in data else bool(data.get("private"))
        self._new_repo(repo_type, repo_id, private)
        return _json({"url": url, "name": repo_id, "id": repo_id})

    def _h_delete_repo(self, user, body, **_):
        data = self._body_json(body)
        repo_id = f"{data.get('organization') or user}/{data.get('name')}"
        repo = self._write_repo(user, data.get("type") or "model", repo_id)
        del self.repos[(repo.repo_type, repo.repo_id)]
        return _Response(200)

    def _h_settings(self, user, repo_type, repo_id, body, **_):
        repo, data = self._write_repo(user, repo_type, repo_id), self._body_json(body)
        if "visibility" in data:
            repo.private = data["visibility"] != "public"
        elif "private" in data:
            repo.private = bool(data["private"])
        return _json({"private": repo.private})

    def _h_repo_info(self, user, repo_type, repo_id, query, rev="main", **_):
        repo = self._read_repo(user, repo_type, repo_id)
        commit = self._commit_of(repo, rev)
        blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=blob.size, blobId=blob.oid)
                if blob.lfs:
                    sibling["lfs"] = {"size": blob.size, "sha256": blob.sha256, "pointerSize": len(blob.pointer)}
            siblings.append(sibling)
        return _json({"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id,
                      "author": repo.namespace, "sha": commit.sha, "private": repo.private, "gated": False,
                      "disabled": False, "lastModified": commit.date, "createdAt": repo.created_at,
                      "tags": [], "downloads": 0, "likes": 0, "siblings": siblings})

    @staticmethod
    def _dir_oid(files: Mapping[str, Blob], path: str) -> str:
        entries = "".join(f"{p}\0{b.oid}\n" for p, b in sorted(files.items()) if p.startswith(path + "/"))
        return hashlib.sha1(f"tree {path}\n{entries}".encode()).hexdigest()

    def _entry(self, files: Mapping[str, Blob], path: str) -> dict[str, Any] | None:
        if (blob := files.get(path)) is not None:
            entry: dict[str, Any] = {"type": "file", "oid": blob.oid, "size": blob.size, "path": path}
            if blob.lfs:
                entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": len(blob.pointer)}
            return entry
        if any(p.startswith(path + "/") for p in files):
            return {"type": "directory", "oid": self._dir_oid(files, path), "size": 0, "path": path}
        return None

    def _h_tree(self, user, repo_type, repo_id, rev, query, path="", **_):
        commit = self._commit_of(self._read_repo(user, repo_type, repo_id), rev)
        path = path.strip("/")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{path}/" if path else ""
        if path and (path in commit.files or not any(p.startswith(prefix) for p in commit.files)):
            raise HubError(404, f"Directory not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        dirs, files = set(), []
        for p in commit.files:
            if not p.startswith(prefix):
                continue
            parts = p[len(prefix):].split("/")
            for i in range(1, len(parts) if recursive else min(2, len(parts))):
                dirs.add(prefix + "/".join(parts[:i]))
            if recursive or len(parts) == 1:
                files.append(p)
        entries = [self._entry(commit.files, d) for d in sorted(dirs)] + [
            self._entry(commit.files, f) for f in sorted(files)]
        return _json(entries)

    def _h_paths_info(self, user, repo_type, repo_id, rev, body, **_):
        commit = self._commit_of(self._read_repo(user, repo_type, repo_id), rev)
        form = parse_qs(body.decode())
        paths = form.get("paths", [])
        if not paths and body.strip().startswith(b"{"):
            paths = self._body_json(body).get("paths", [])
        entries = [self._entry(commit.files, p.strip("/")) for p in paths]
        return _json([e for e in entries if e is not None])

    def _h_refs(self, user, repo_type, repo_id, **_):
        repo = self._read_repo(user, repo_type, repo_id)
        return _json({
            "branches": [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s} for n, s in repo.branches.items()],
            "tags": [{"name": n, "ref": f"refs/tags/{n}", "targetCommit": s} for n, s in repo.tags.items()],
            "converts": [],
            "pullRequests": [{"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": s}
                             for n, s in sorted(repo.pull_requests.items())],
        })

    def _h_commits(self, user, repo_type, repo_id, rev, **_):
        repo = self._read_repo(user, repo_type, repo_id)
        commit: Commit | None = self._commit_of(repo, rev)
        out = []
        while commit is not None:
            out.append({"id": commit.sha, "title": commit.title, "message": commit.message,
                        "authors": [{"user": commit.author}], "date": commit.date})
            commit = repo.commits.get(commit.parent) if commit.parent else None
        return _json(out)

    def _h_create_tag(self, user, repo_type, repo_id, rev, body, **_):
        repo, data = self._write_repo(user, repo_type, repo_id), self._body_json(body)
        tag = str(data.get("tag") or "")
        if not tag or tag.startswith("refs/") or ".." in tag or " " in tag:
            raise HubError(400, f"Invalid tag name: {tag!r}")
        if tag in repo.tags:
            raise HubError(409, f"Tag {tag} already exists")
        repo.tags[tag] = self._commit_of(repo, rev).sha
        return _json({"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": repo.tags[tag]})

    def _h_delete_tag(self, user, repo_type, repo_id, rev, **_):
        repo = self._write_repo(user, repo_type, repo_id)
        if repo.tags.pop(rev, None) is None:
            raise HubError(404, f"Tag {rev} not found", "RevisionNotFound")
        return _Response(200)

    def _h_create_branch(self, user, repo_type, repo_id, rev, body, **_):
        repo, data = self._write_repo(user, repo_type, repo_id), self._body_json(body)
        if not rev or rev.startswith("refs/") or ".." in rev or " " in rev:
            raise HubError(400, f"Invalid reference for a branch: {rev}")
        if rev in repo.branches:
            raise HubError(409, f"Reference already exists: refs/heads/{rev}")
        repo.branches[rev] = self._commit_of(repo, data.get("startingPoint") or "main").sha
        return _json({"name": rev, "ref": f"refs/heads/{rev}", "targetCommit": repo.branches[rev]})

    def _h_delete_branch(self, user, repo_type, repo_id, rev, **_):
        repo = self._write_repo(user, repo_type, repo_id)
        if rev == "main":
            raise HubError(403, "Cannot delete the default branch")
        if repo.branches.pop(rev, None) is None:
            raise HubError(404, f"Branch {rev} not found", "RevisionNotFound")
        return _Response(200)

    def _h_preupload(self, user, repo_type, repo_id, rev, body, **_):
        commit = self._commit_of(self._write_repo(user, repo_type, repo_id), rev)
        out = []
        for f in self._body_json(body).get("files", []):
            sample = base64.b64decode(f.get("sample") or "")
            lfs = int(f.get("size") or 0) >= self.lfs_threshold or b"\0" in sample
            remote = commit.files.get(f["path"])
            oid = None if remote is None else (remote.sha256 if remote.lfs else remote.oid)
            out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                        "oid": oid})
        return _json({"files": out, "commitOid": commit.sha})

    def _sig(self, oid: str, size: int) -> str:
        return hmac.new(self._secret, f"{oid}:{size}".encode(), hashlib.sha256).hexdigest()

    def _h_lfs_batch(self, user, repo_type, repo_id, body, base, **_):
        self._write_repo(user, repo_type, repo_id)
        data = self._body_json(body)
        if data.get("operation") != "upload":
            raise HubError(400, "Only the upload operation is supported")
        objects = []
        for obj in data.get("objects", []):
            oid, size = str(obj.get("oid", "")), obj.get("size")
            if not re.fullmatch(r"[0-9a-f]{64}", oid) or not isinstance(size, int):
                raise HubError(422, f"Invalid LFS object: {obj}")
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.lfs_objects:  # already stored => no actions, the client skips the upload
                q = f"size={size}&sig={self._sig(oid, size)}"
                entry["actions"] = {"upload": {"href": f"{base}/_lfs/objects/{oid}?{q}"},
                                    "verify": {"href": f"{base}/_lfs/verify/{oid}?{q}"}}
            objects.append(entry)
        return _json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                     headers={"Content-Type": "application/vnd.git-lfs+json"})

    def _check_sig(self, oid: str, query: dict[str, list[str]]) -> int:
        size = int(query.get("size", ["-1"])[0])
        if not hmac.compare_digest(query.get("sig", [""])[0], self._sig(oid, size)):
            raise HubError(403, "Invalid or missing upload signature")
        return size

    def _h_lfs_put(self, oid, query, body, **_):
        size = self._check_sig(oid, query)
        if len(body) != size or hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "Uploaded content does not match the announced oid/size")
        self.lfs_objects[oid] = body
        return _Response(200, headers={"ETag": f'"{hashlib.md5(body).hexdigest()}"'})

    def _h_lfs_verify(self, oid, query, body, **_):
        size = self._check_sig(oid, query)
        if len(self.lfs_objects.get(oid, b"")) != size or oid not in self.lfs_objects:
            raise HubError(404, f"LFS object {oid} not found")
        return _json({"success": True})

    def _h_commit(self, user, repo_type, repo_id, rev, query, body, base, **_):
        repo = self._write_repo(user, repo_type, repo_id)
        try:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        except ValueError as e:
            raise HubError(400, f"Invalid ndjson payload: {e}") from None
        header = next((ln["value"] for ln in lines if ln.get("key") == "header"), None)
        if not header or not str(header.get("summary") or "").strip():
            raise HubError(400, "Missing commit header or summary")
        parent = header.get("parentCommit")
        ref = repo.writable_ref(rev)
        pr_num = None
        if query.get("create_pr", ["0"])[0].lower() in ("1", "true"):
            if ref is None or ref[0] != "branch":
                raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            start = self._commit_of(repo, parent).sha if parent else repo.ref_sha(ref)
            pr_num = max(repo.pull_requests, default=0) + 1
            repo.pull_requests[pr_num], ref, parent = start, ("pr", pr_num), None
        if ref is None:
            if repo.resolve(rev) is not None:
                raise HubError(400, f"Invalid rev id: {rev} is not a branch")
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        head = repo.ref_sha(ref)
        if parent and not head.startswith(str(parent).lower()):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        files = dict(repo.commits[head].files)
        for line in lines:
            key, value = line.get("key"), line.get("value") or {}
            path = str(value.get("path", "")).strip("/")
            if key == "header":
                continue
            if not path or ".." in path.split("/"):
                raise HubError(400, f"Invalid path in commit: {value.get('path')!r}")
            if key == "file":
                files[path] = Blob.make(base64.b64decode(value.get("content") or ""))
            elif key == "lfsFile":
                data = self.lfs_objects.get(str(value.get("oid")))
                if data is None or ("size" in value and value["size"] != len(data)):
                    raise HubError(400, f"LFS object {value.get('oid')} for {path} was not uploaded")
                files[path] = Blob.make(data, lfs=True)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            elif key == "deletedFolder":
                doomed = [p for p in files if p.startswith(path + "/")]
                if not doomed:
                    raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                for p in doomed:
                    del files[p]
            else:
                raise HubError(400, f"Unknown commit operation: {key}")
        sha = self._add_commit(repo, head, header["summary"], header.get("description") or "", user, files)
        repo.set_ref(ref, sha)
        url = f"{base}/{_PREFIX[repo_type]}{repo_id}"
        return _json({"success": True, "commitOid": sha, "commitUrl": f"{url}/commit/{sha}",
                      "pullRequestUrl": f"{url}/discussions/{pr_num}" if pr_num else None})

    def _h_resolve(self, user, repo_type, repo_id, rev, path, headers, method, **_):
        commit = self._commit_of(self._read_repo(user, repo_type, repo_id), rev)
        blob = commit.files.get(path)
        if blob is None:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        hdrs = {"X-Repo-Commit": commit.sha, "ETag": f'"{blob.etag}"', "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream"}
        if blob.lfs:
            hdrs.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(blob.size)})
        status, data = 200, blob.data
        if (rng := headers.get("range")) is not None:
            m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", rng)
            start, end = (m.group(1), m.group(2)) if m else ("", "")
            if not start and end:
                start, end = str(max(blob.size - int(end), 0)), ""
            first = int(start or 0)
            last = min(int(end), blob.size - 1) if end else blob.size - 1
            if not m or first >= blob.size or first > last:
                raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{blob.size}"})
            status, data = 206, blob.data[first:last + 1]
            hdrs["Content-Range"] = f"bytes {first}-{last}/{blob.size}"
        resp = _Response(status, data, hdrs)
        if method == "GET" and self._fail_downloads > 0:
            self._fail_downloads -= 1
            resp.truncate_at = int(len(data) * self._fail_fraction)
        return resp


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    hub: HubServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # dropped connections are expected (stop(), fault injection)
            self.hub.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zoo-test-hub/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle/delayed-ACK 40 ms stalls
        with self.server.hub.lock:
            self.server.hub._conns.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.hub.lock:
            self.server.hub._conns.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        hub = self.server.hub
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = RequestRecord(self.command, self.path, headers)
        base = f"http://{self.headers.get('Host') or f'{hub.host}:{hub.port}'}"
        try:
            body = self._read_body()
            with hub.lock:
                hub.requests.append(record)
            resp = hub.handle(self.command, split.path, parse_qs(split.query), headers, body, base)
        except HubError as e:
            message = e.message.replace("\n", " ").encode("ascii", "replace").decode()  # headers are latin-1
            hdrs = {"X-Error-Message": message, **e.headers}
            if e.code:
                hdrs["X-Error-Code"] = e.code
            resp = _json({"error": e.message, **(e.body or {})}, e.status, hdrs)
        except Exception:  # a server bug: report it to the client and keep it for the tests to inspect
            hub.errors.append(traceback.format_exc())
            resp = _json({"error": "internal server error"}, 500, {"X-Error-Message": "internal server error"})
        record.status = resp.status
        self.send_response(resp.status)
        for key, value in resp.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if resp.truncate_at is None:
            self.wfile.write(resp.body)
            return
        self.wfile.write(resp.body[: resp.truncate_at])  # fault injection: half a body, then hang up
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch
