"""The test Hub (tests/hub_server.py) driven by the real huggingface_hub client, on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.hub_server import HubServer, git_blob_sha1, lfs_pointer

pytest_plugins = ["tests.conftest_hub"]  # hub_server, hub_env, hub, no_retry_sleep
# huggingface_hub's own LFS upload (`data=fileobj`) trips an httpx2 deprecation warning: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

ALICE_TOKEN = "hf_alice_test_token"  # registered by the hub_server fixture (tests.conftest_hub.HUB_TOKENS)
BOB_TOKEN = "hf_bob_test_token"

REPO = "alice/tiny-cnn"
WEIGHTS_SIZE = 2 * 1024 * 1024
README = "---\nlicense: apache-2.0\ntags:\n- image-classification\n- zoo\n---\n# Tiny CNN\n\nA test model.\n"


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def download(hub: HubServer, filename: str, repo_id: str = REPO, **kwargs) -> str:
    kwargs.setdefault("token", ALICE_TOKEN)
    return hf_hub_download(repo_id, filename, endpoint=hub.url, **kwargs)


@pytest.fixture
def alice(hub: HubServer) -> HfApi:
    return HfApi(endpoint=hub.url, token=ALICE_TOKEN)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(random.Random(0).randbytes(WEIGHTS_SIZE))
    (folder / "config.json").write_text(json.dumps({"architecture": "simplecnn", "num_classes": 10}))
    (folder / "README.md").write_text(README)
    return folder


@pytest.fixture
def weights_repo(hub: HubServer, alice: HfApi, model_dir: Path) -> str:
    """REPO with the model folder uploaded; returns the upload commit sha."""
    alice.create_repo(REPO)
    return alice.upload_folder(repo_id=REPO, folder_path=model_dir, commit_message="Add model").oid


def test_create_repo_visibility_exist_ok_and_namespaces(hub: HubServer, alice: HfApi):
    url = alice.create_repo("alice/public-model")
    assert url == f"{hub.url}/alice/public-model" and url.repo_id == "alice/public-model"
    alice.create_repo("alice/secret-model", private=True)
    assert alice.model_info("alice/public-model").private is False
    assert alice.model_info("alice/secret-model").private is True

    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_repo("alice/public-model")
    assert exc.value.response.status_code == 409
    assert alice.create_repo("alice/public-model", exist_ok=True) == url

    info = alice.model_info("alice/public-model")  # created with an initial commit holding .gitattributes
    assert len(info.sha) == 40 and [s.rfilename for s in info.siblings] == [".gitattributes"]
    assert alice.create_repo("zoo-org/shared").repo_id == "zoo-org/shared"  # alice is a member of zoo-org
    assert alice.create_repo("alice/images", repo_type="dataset") == f"{hub.url}/datasets/alice/images"
    assert alice.dataset_info("alice/images").id == "alice/images"
    alice.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data/train.csv", repo_id="alice/images",
                      repo_type="dataset")
    csv = hf_hub_download("alice/images", "data/train.csv", repo_type="dataset", endpoint=hub.url, token=ALICE_TOKEN)
    assert Path(csv).read_bytes() == b"a,b\n1,2\n" and "datasets--alice--images" in csv

    me = alice.whoami()
    assert me["name"] == "alice" and [o["name"] for o in me["orgs"]] == ["zoo-org"]
    bob = HfApi(endpoint=hub.url, token=BOB_TOKEN)
    with pytest.raises(HfHubHTTPError) as exc:
        bob.create_repo("alice/intruder")
    assert exc.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as exc:
        HfApi(endpoint=hub.url).create_repo("anonymous-model")
    assert exc.value.response.status_code == 401

    alice.delete_repo("alice/public-model")
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info("alice/public-model")
    alice.delete_repo("alice/public-model", missing_ok=True)


def test_upload_folder_is_one_commit_with_lfs_weights(hub: HubServer, alice: HfApi, model_dir: Path,
                                                      weights_repo: str):
    commits = alice.list_repo_commits(REPO)
    assert [c.title for c in commits] == ["Add model", "initial commit"]
    assert commits[0].commit_id == weights_repo
    assert sorted(alice.list_repo_files(REPO)) == [".gitattributes", "README.md", "config.json", "model.safetensors"]

    # The weights went through LFS: batch, then a PUT to the signed href (no Authorization header), then verify.
    puts = hub.requests_to("/_lfs/objects/", "PUT")
    assert len(puts) == 1 and "authorization" not in puts[0].headers
    assert len(hub.requests_to("/_lfs/verify/", "POST")) == 1

    weights_sha = sha256_of(model_dir / "model.safetensors")
    tree = {f.path: f for f in alice.list_repo_tree(REPO, recursive=True)}
    assert tree["model.safetensors"].lfs.sha256 == weights_sha
    assert tree["model.safetensors"].size == WEIGHTS_SIZE
    assert tree["model.safetensors"].blob_id == git_blob_sha1(lfs_pointer(weights_sha, WEIGHTS_SIZE))
    config = (model_dir / "config.json").read_bytes()
    assert tree["config.json"].lfs is None and tree["config.json"].blob_id == git_blob_sha1(config)
    siblings = {s.rfilename: s for s in alice.model_info(REPO, files_metadata=True).siblings}
    assert siblings["model.safetensors"].lfs.sha256 == weights_sha and siblings["README.md"].lfs is None

    # Unchanged files: preupload returns the remote oids, so the client makes no commit and uploads nothing.
    again = alice.upload_folder(repo_id=REPO, folder_path=model_dir)
    assert again.oid == weights_repo
    assert len(alice.list_repo_commits(REPO)) == 2 and len(hub.requests_to("/_lfs/objects/", "PUT")) == 1


def test_snapshot_download_patterns_and_revisions(hub: HubServer, alice: HfApi, model_dir: Path,
                                                  weights_repo: str):
    (model_dir / "config.json").write_text(json.dumps({"architecture": "simplecnn", "num_classes": 20}))
    second = alice.upload_folder(repo_id=REPO, folder_path=model_dir, commit_message="20 classes").oid

    light = Path(snapshot_download(REPO, endpoint=hub.url, token=ALICE_TOKEN, allow_patterns=["*.json", "*.md"]))
    assert light.name == second
    assert sorted(p.name for p in light.iterdir()) == ["README.md", "config.json"]
    assert json.loads((light / "config.json").read_text())["num_classes"] == 20

    old = Path(snapshot_download(REPO, endpoint=hub.url, token=ALICE_TOKEN, revision=weights_repo))
    assert old.name == weights_repo
    assert json.loads((old / "config.json").read_text())["num_classes"] == 10
    assert sha256_of(old / "model.safetensors") == sha256_of(model_dir / "model.safetensors")

    short = snapshot_download(REPO, endpoint=hub.url, token=ALICE_TOKEN, revision=weights_repo[:7],
                              allow_patterns="config.json")
    assert Path(short) == old


def test_hf_hub_download_old_commit_returns_old_content(hub: HubServer, alice: HfApi):
    alice.create_repo(REPO)
    first = alice.upload_file(path_or_fileobj=b'{"v": 1}', path_in_repo="config.json", repo_id=REPO)
    alice.upload_file(path_or_fileobj=b'{"v": 2}', path_in_repo="config.json", repo_id=REPO)

    assert Path(download(hub, "config.json")).read_bytes() == b'{"v": 2}'
    old = Path(download(hub, "config.json", revision=first.oid))
    assert old.read_bytes() == b'{"v": 1}' and old.parent.name == first.oid
    assert Path(download(hub, "config.json", revision=first.oid[:10])).read_bytes() == b'{"v": 1}'


def test_tags_and_branches(hub: HubServer, alice: HfApi):
    alice.create_repo(REPO)
    first = alice.upload_file(path_or_fileobj=b"v1", path_in_repo="config.json", repo_id=REPO).oid
    alice.create_tag(REPO, tag="v1.0", revision=first, tag_message="first release")
    alice.upload_file(path_or_fileobj=b"v2", path_in_repo="config.json", repo_id=REPO)

    assert Path(download(hub, "config.json", revision="v1.0")).read_bytes() == b"v1"
    assert Path(download(hub, "config.json")).read_bytes() == b"v2"
    refs = alice.list_repo_refs(REPO)
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1.0", "refs/tags/v1.0", first)]
    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_tag(REPO, tag="v1.0")
    assert exc.value.response.status_code == 409
    alice.create_tag(REPO, tag="v1.0", exist_ok=True)

    alice.create_branch(REPO, branch="dev", revision="v1.0")
    alice.upload_file(path_or_fileobj=b"dev only", path_in_repo="notes/dev.txt", repo_id=REPO, revision="dev")
    assert "notes/dev.txt" in alice.list_repo_files(REPO, revision="dev")
    assert "notes/dev.txt" not in alice.list_repo_files(REPO)
    assert Path(download(hub, "notes/dev.txt", revision="dev")).read_bytes() == b"dev only"
    assert Path(download(hub, "config.json", revision="dev")).read_bytes() == b"v1"
    with pytest.raises(EntryNotFoundError):
        download(hub, "notes/dev.txt")
    with pytest.raises(HfHubHTTPError) as exc:
        alice.create_branch(REPO, branch="dev")
    assert exc.value.response.status_code == 409
    alice.create_branch(REPO, branch="dev", exist_ok=True)
    assert sorted(b.name for b in alice.list_repo_refs(REPO).branches) == ["dev", "main"]


def test_private_repo_needs_the_owner_token(hub: HubServer, alice: HfApi, tmp_path: Path):
    assert hub.token_for("alice") == ALICE_TOKEN and hub.token_for("bob") == BOB_TOKEN
    alice.create_repo("alice/secret", private=True)
    alice.upload_file(path_or_fileobj=b"top secret", path_in_repo="secret.txt", repo_id="alice/secret")
    assert Path(download(hub, "secret.txt", "alice/secret")).read_bytes() == b"top secret"
    # With the file cached, a failed HEAD falls back to the cache: ask with an empty cache to see the errors.
    empty = tmp_path / "empty-cache"

    # No token (none in the env either): 401 + X-Error-Code RepoNotFound -> RepositoryNotFoundError.
    for token in (None, False):
        with pytest.raises(RepositoryNotFoundError) as exc:
            download(hub, "secret.txt", "alice/secret", token=token, cache_dir=empty)
        assert exc.value.response.status_code == 401
    # Another user's valid token: 404 RepoNotFound, as if the repo did not exist.
    with pytest.raises(RepositoryNotFoundError) as exc:
        download(hub, "secret.txt", "alice/secret", token=BOB_TOKEN, cache_dir=empty)
    assert exc.value.response.status_code == 404
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("alice/secret", endpoint=hub.url, token=BOB_TOKEN, cache_dir=empty)
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url).model_info("alice/secret")
    # An unknown token: 401 "Invalid credentials in Authorization header" -> a plain HfHubHTTPError.
    with pytest.raises(HfHubHTTPError) as exc:
        download(hub, "secret.txt", "alice/secret", token="hf_not_a_token", cache_dir=empty)
    assert not isinstance(exc.value, RepositoryNotFoundError)
    assert exc.value.response.status_code == 401 and "Invalid credentials" in str(exc.value)

    # Bob can read alice's public repos but not write to them.
    bob = HfApi(endpoint=hub.url, token=BOB_TOKEN)
    alice.update_repo_settings("alice/secret", private=False)
    assert bob.model_info("alice/secret").private is False
    alice.create_repo(REPO)
    assert bob.model_info(REPO).id == REPO
    with pytest.raises(HfHubHTTPError) as exc:
        bob.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=REPO)
    assert exc.value.response.status_code == 403


def test_missing_repo_revision_and_file(hub: HubServer, alice: HfApi):
    with pytest.raises(RepositoryNotFoundError):
        download(hub, "config.json", "alice/nope")
    with pytest.raises(RepositoryNotFoundError):
        alice.model_info("alice/nope")
    hub.seed_repo(REPO, {"config.json": b"{}"})
    with pytest.raises(RevisionNotFoundError):
        download(hub, "config.json", revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        alice.model_info(REPO, revision="deadbeef")
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(REPO, endpoint=hub.url, token=ALICE_TOKEN, revision="v9")
    with pytest.raises(EntryNotFoundError):
        download(hub, "missing.txt")


def test_model_card_load(hub: HubServer, alice: HfApi, model_dir: Path, weights_repo: str):
    card = ModelCard.load(REPO, token=ALICE_TOKEN)  # takes no endpoint=: the `hub` fixture points the default
    assert card.data.license == "apache-2.0" and card.data.tags == ["image-classification", "zoo"]
    assert "A test model." in card.text


def test_hub_down_then_offline_then_back(hub: HubServer, hub_env, alice: HfApi, weights_repo: str, no_retry_sleep):
    cached = download(hub, "config.json")
    url = hub.url
    hub.stop()

    started = time.monotonic()
    with pytest.raises(httpx2.ConnectError):
        alice.model_info(REPO)
    assert time.monotonic() - started < 2
    assert download(hub, "config.json") == cached  # HEAD fails -> the client falls back to the cache
    assert download(hub, "config.json", local_files_only=True) == cached
    with pytest.raises(LocalEntryNotFoundError):  # not cached: gives up after its retries (sleeps skipped)
        download(hub, "README.md")

    hub_env.set_offline()
    assert download(hub, "config.json") == cached
    with pytest.raises(LocalEntryNotFoundError):
        download(hub, "README.md")
    with pytest.raises(OfflineModeIsEnabled):
        alice.model_info(REPO)
    hub_env.set_offline(False)

    assert hub.start() == url  # same port, same state
    assert alice.model_info(REPO).sha == weights_repo
    assert Path(download(hub, "README.md")).read_text() == README


@pytest.mark.parametrize("chunk_size", [None, 256 * 1024], ids=["default-chunks", "small-chunks"])
def test_interrupted_download_is_retried(hub: HubServer, hub_env, model_dir: Path, weights_repo: str,
                                         no_retry_sleep, monkeypatch: pytest.MonkeyPatch, chunk_size: int | None):
    # The client writes the body in DOWNLOAD_CHUNK_SIZE (10 MB) pieces and loses a partial piece when the connection
    # drops: with the default size a 2 MB file restarts from byte 0; with small chunks it resumes with a Range.
    if chunk_size is not None:
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", chunk_size)
    hub.fail_next_downloads(1)  # half the body, then the connection drops
    path = download(hub, "model.safetensors")
    assert sha256_of(path) == sha256_of(model_dir / "model.safetensors")
    assert hub.pending_failures == 0 and no_retry_sleep.sleeps == [1]
    gets = hub.requests_to("/resolve/", "GET")
    if chunk_size is None:
        assert [(g.headers.get("range"), g.status) for g in gets] == [(None, 200), (None, 200)]
    else:
        assert [(g.headers.get("range"), g.status) for g in gets] == [(None, 200), (f"bytes={WEIGHTS_SIZE // 2}-", 206)]
    assert not hub_env.incomplete_files()


def test_failed_download_leaves_no_corrupt_cache(hub: HubServer, hub_env, model_dir: Path, weights_repo: str,
                                                 no_retry_sleep):
    hub.fail_next_downloads(100, fraction=0.0)  # headers only, every time: the client runs out of retries
    with pytest.raises((httpx2.TransportError, OSError)):
        download(hub, "model.safetensors")
    assert len(hub.requests_to("/resolve/", "GET")) == 6  # first try + 5 resumes
    assert hub_env.snapshot_files(REPO) == [] and not hub_env.incomplete_files()

    hub.fail_next_downloads(0)
    path = download(hub, "model.safetensors")
    assert sha256_of(path) == sha256_of(model_dir / "model.safetensors")
    assert hub_env.snapshot_files(REPO) == [Path(path)]


def test_parent_commit_conflict_deletes_and_pull_requests(hub: HubServer, alice: HfApi):
    alice.create_repo(REPO)
    first = alice.upload_file(path_or_fileobj=b"1", path_in_repo="a/one.txt", repo_id=REPO).oid
    alice.upload_file(path_or_fileobj=b"2", path_in_repo="a/two.txt", repo_id=REPO, parent_commit=first[:7])
    with pytest.raises(HfHubHTTPError) as exc:  # main moved on since `first`
        alice.upload_file(path_or_fileobj=b"3", path_in_repo="three.txt", repo_id=REPO, parent_commit=first)
    assert exc.value.response.status_code == 412

    pr = alice.create_commit(REPO, operations=[CommitOperationAdd("pr.txt", b"proposed")],
                             commit_message="Propose", create_pr=True)
    assert pr.pr_num == 1 and pr.pr_revision == "refs/pr/1"
    assert Path(download(hub, "pr.txt", revision="refs/pr/1")).read_bytes() == b"proposed"
    assert "pr.txt" not in alice.list_repo_files(REPO)
    assert [p.ref for p in alice.list_repo_refs(REPO, include_pull_requests=True).pull_requests] == ["refs/pr/1"]

    alice.delete_file("a/one.txt", repo_id=REPO)
    assert sorted(alice.list_repo_files(REPO)) == [".gitattributes", "a/two.txt"]
    alice.delete_folder("a", repo_id=REPO)
    assert alice.list_repo_files(REPO) == [".gitattributes"]
    with pytest.raises(EntryNotFoundError):
        alice.delete_file("a/one.txt", repo_id=REPO)


def test_wire_protocol_headers(hub: HubServer):
    weights, config = random.Random(1).randbytes(1_500_000), b'{"a": 1}'
    head = hub.seed_repo(REPO, {"config.json": config, "weights.bin": weights})
    auth = {"Authorization": f"Bearer {ALICE_TOKEN}"}
    with httpx2.Client(base_url=hub.url, headers=auth) as client:
        r = client.head(f"/{REPO}/resolve/main/config.json")
        assert r.status_code == 200 and r.headers["X-Repo-Commit"] == head
        assert r.headers["ETag"] == f'"{git_blob_sha1(config)}"' and r.headers["Content-Length"] == "8"
        assert "X-Linked-Etag" not in r.headers

        r = client.get(f"/{REPO}/resolve/{head[:8]}/weights.bin", headers={"Range": "bytes=10-19"})
        assert r.status_code == 206 and r.content == weights[10:20]
        assert r.headers["Content-Range"] == f"bytes 10-19/{len(weights)}"
        assert r.headers["X-Linked-Etag"] == f'"{hashlib.sha256(weights).hexdigest()}"'
        assert r.headers["X-Linked-Size"] == str(len(weights))
        assert client.get(f"/{REPO}/resolve/main/weights.bin", headers={"Range": "bytes=9999999-"}).status_code == 416

        r = client.get(f"/{REPO}/resolve/main/nope.txt")
        assert (r.status_code, r.headers["X-Error-Code"], r.headers["X-Repo-Commit"]) == (404, "EntryNotFound", head)
        r = client.get(f"/api/models/{REPO}/revision/nope")
        assert (r.status_code, r.headers["X-Error-Code"]) == (404, "RevisionNotFound")
        r = client.get(f"/api/models/{REPO}", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["X-Error-Message"] == "Invalid credentials in Authorization header"
        r = client.post("/api/repos/create", json={"name": "tiny-cnn", "organization": "alice", "type": "model"})
        assert r.status_code == 409 and r.json()["url"] == f"{hub.url}/{REPO}"
