"""zoo_core.hub against the test Hub (tests/hub_server.py), driven by the real huggingface_hub client."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import HfApi, ModelCard

import zoo_core as zoo
from tests.conftest_hub import ALICE_TOKEN, BOB_TOKEN
from zoo_core import backends
from zoo_core import hub as zoo_hub
from zoo_core.hub import CARD_MARKER, HubError
from zoo_core.testing import compare, randomize

# huggingface_hub's own LFS upload (`data=fileobj`) trips an httpx2 deprecation warning: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")

REPO_FILES = [".gitattributes", "README.md", "config.json", "model.safetensors"]  # .gitattributes: made at creation
LABELS = [f"digit-{i}" for i in range(10)]


def randomized(framework: str, seed: int = 0, name: str = "simplecnn"):
    model = zoo.load(name, framework=framework)
    b = backends.get(framework)
    b.from_canonical(model, randomize(b.to_canonical(model), seed))
    return model


def push(model, repo: str = "alice/cnn", **kw):
    kw.setdefault("token", ALICE_TOKEN)
    return zoo_hub.push(model, repo, endpoint=hub_url(), **kw)


def hub_url() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT  # the `hub` fixture points the client's default endpoint at the test server


@pytest.fixture
def alice(hub) -> HfApi:
    return HfApi(endpoint=hub.url, token=ALICE_TOKEN)


@pytest.mark.parametrize("source,target", [("tf", "torch"), ("torch", "tf")], ids=["tf-to-torch", "torch-to-tf"])
def test_push_then_load_in_the_other_framework(hub, alice, source, target):
    model = randomized(source)
    info = push(model, labels=LABELS, metrics={"accuracy": 0.97, "dataset": "mnist"})
    assert len(info.oid) == 40
    assert sorted(alice.list_repo_files("alice/cnn")) == REPO_FILES
    commits = alice.list_repo_commits("alice/cnn")
    assert len(commits) == 2 and commits[0].commit_id == info.oid  # one commit on top of the initial one

    loaded = zoo.load("hf://alice/cnn", framework=target)
    assert compare(model, loaded)[0] <= 1e-4
    assert loaded.zoo_labels == LABELS


def test_card_parses_with_metrics_and_parity(hub, alice):
    push(randomized("tf"), labels=LABELS, metrics={"accuracy": 0.97, "top5": 0.999, "dataset": "mnist"},
         datasets=["mnist"])
    card = ModelCard.load("alice/cnn", token=ALICE_TOKEN)
    data = card.data
    assert data.library_name == "zoo" and data.pipeline_tag == "image-classification"
    assert data.license == "apache-2.0" and data.datasets == ["mnist"]
    assert {"image-classification", "pytorch", "tensorflow", "keras", "zoo", "simplecnn"} <= set(data.tags)
    results = {r.metric_type: (r.metric_value, r.dataset_name, r.task_type) for r in data.eval_results}
    assert results == {"accuracy": (0.97, "mnist", "image-classification"),
                       "top5": (0.999, "mnist", "image-classification")}
    text = card.text
    assert CARD_MARKER in text and 'zoo.load("hf://alice/cnn", framework="tf")' in text
    assert "1 × 28 × 28" in text and "[0.1307]" in text and "bilinear" in text and "9: digit-9" in text
    assert "Max |Δlogits| between PyTorch and TensorFlow for these weights:" in text and "not measured" not in text


def test_card_says_not_measured_without_parity():
    cfg = {"architecture": "resnet18", "num_classes": 3, "pretrained_cfg": {"input_size": [3, 32, 32]}}
    text = zoo_hub.card(cfg, repo_id="alice/r", parity="tf not installed")
    assert "not measured (tf not installed)" in text and "metrics" not in text.split("---")[1]


def test_revisions_commit_sha_and_tag_return_old_weights(hub, alice):
    first_model, second_model = randomized("tf", seed=1), randomized("tf", seed=2)
    first = push(first_model, tag="v1.0").oid
    second = push(second_model, commit_message="retrained").oid
    assert first != second
    assert [c.title for c in alice.list_repo_commits("alice/cnn")][:2] == ["retrained", "Upload simplecnn with zoo"]
    for handle in (f"hf://alice/cnn@{first}", "hf://alice/cnn@v1.0"):
        assert compare(first_model, zoo.load(handle, framework="torch"))[0] <= 1e-4, handle
    assert zoo_hub.pull(f"alice/cnn@{first[:8]}").name == first
    assert compare(second_model, zoo.load("hf://alice/cnn", framework="torch"))[0] <= 1e-4
    with pytest.raises(HubError, match="has no revision 'v9'"):
        zoo_hub.pull("hf://alice/cnn@v9")


def test_private_repo_tokens(hub, alice, tmp_path):
    push(randomized("tf"), "alice/secret", private=True)
    assert alice.model_info("alice/secret").private is True
    with pytest.raises(HubError, match=r"^no repo alice/secret at .*or it is private: check the name, or pass a token"):
        zoo.load("hf://alice/secret", framework="torch")
    with pytest.raises(HubError, match="rejected the token") as exc:
        zoo_hub.pull("hf://alice/secret", token="hf_wrong_token")
    assert "hf_wrong_token" not in str(exc.value) and exc.value.__cause__ is None
    with pytest.raises(HubError, match="no repo alice/secret"):
        zoo_hub.pull("hf://alice/secret", token=BOB_TOKEN)
    path = zoo_hub.pull("hf://alice/secret", token=ALICE_TOKEN)
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "model.safetensors"]

    with pytest.raises(HubError, match="no write access to alice/secret"):
        push(randomized("tf"), "alice/secret", token=BOB_TOKEN)
    with pytest.raises(HubError, match="needs a token"):
        push(randomized("tf"), "alice/other", token=None)


def test_hub_down_then_offline_cache(hub, hub_env, no_retry_sleep):
    model = randomized("tf")
    push(model)
    zoo.load("hf://alice/cnn", framework="torch")  # now cached
    hub.stop()

    started = time.monotonic()
    with pytest.raises(HubError, match=r"^hub unreachable at http://127\.0\.0\.1:\d+; check HF_ENDPOINT") as exc:
        zoo.load("hf://alice/never-cached", framework="torch")
    assert time.monotonic() - started < 5 and exc.value.__cause__ is None and exc.value.__suppress_context__

    hub_env.set_offline()
    assert compare(model, zoo.load("hf://alice/cnn", framework="torch"))[0] <= 1e-4
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set and alice/never-cached is not in the cache"):
        zoo.load("hf://alice/never-cached", framework="torch")


def test_timm_layout_repo_loads_in_tf(hub, alice, tmp_path):
    import timm
    import torch
    from timm.models import save_for_hf

    torch.manual_seed(0)
    ref = timm.create_model("resnet18", pretrained=False, num_classes=4,
                            pretrained_cfg_overlay={"input_size": (3, 32, 32)}).eval()
    with torch.no_grad():
        sd = randomize({k: v.numpy() for k, v in ref.state_dict().items()})
        ref.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    save_for_hf(ref, str(tmp_path / "timm"), safe_serialization=True)
    alice.create_repo("alice/timm-r18")
    alice.upload_folder(repo_id="alice/timm-r18", folder_path=tmp_path / "timm", commit_message="timm upload")

    keras_model = zoo.load("hf://alice/timm-r18", framework="tf")
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    got = backends.get("tf").predict(keras_model, x.transpose(0, 2, 3, 1))
    assert got.shape == (2, 4) and np.max(np.abs(got - expected)) <= 1e-4


def test_interrupted_download_leaves_nothing_corrupt(hub, hub_env, no_retry_sleep):
    model = randomized("torch")
    push(model)
    hub.fail_next_downloads(100, fraction=0.0)  # headers only, every time: the client gives up
    with pytest.raises(HubError, match="interrupted") as exc:
        zoo.load("hf://alice/cnn", framework="tf")
    assert exc.value.__cause__ is None
    assert not [p for p in hub_env.snapshot_files("alice/cnn") if p.name == "model.safetensors"]
    assert not hub_env.incomplete_files()

    hub.fail_next_downloads(1)  # half a body then a dropped connection: the client resumes
    assert compare(model, zoo.load("hf://alice/cnn", framework="tf"))[0] <= 1e-4
    assert hub.pending_failures == 0 and not hub_env.incomplete_files()


def test_corrupt_cached_weights_are_refused_then_force_download_fixes(hub, hub_env):
    push(randomized("tf"))
    path = zoo_hub.pull("hf://alice/cnn")
    blob = (path / "model.safetensors").resolve()
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    with pytest.raises(HubError, match=r"sha256 .* does not match .*force_download=True"):
        zoo.load("hf://alice/cnn", framework="torch")
    fixed = zoo_hub.pull("hf://alice/cnn", force_download=True)
    zoo.load(str(fixed), framework="torch")


def test_human_readme_is_kept_unless_overwrite_card(hub, alice, caplog):
    human = "---\nlicense: mit\n---\n# My CNN\n\nWritten by hand.\n"
    alice.create_repo("alice/cnn")
    alice.upload_file(path_or_fileobj=human.encode(), path_in_repo="README.md", repo_id="alice/cnn")
    with caplog.at_level(logging.WARNING, logger="zoo.hub"):
        push(randomized("tf"))
    assert "kept the README.md of alice/cnn" in caplog.text and ALICE_TOKEN not in caplog.text
    assert Path(alice.hf_hub_download("alice/cnn", "README.md")).read_text() == human
    assert sorted(alice.list_repo_files("alice/cnn")) == REPO_FILES

    push(randomized("tf", seed=1), overwrite_card=True)
    text = Path(alice.hf_hub_download("alice/cnn", "README.md")).read_text()
    assert CARD_MARKER in text and "library_name: zoo" in text
    push(randomized("tf", seed=2), metrics={"accuracy": 0.5})  # a zoo card is replaced without asking
    assert "0.5" in Path(alice.hf_hub_download("alice/cnn", "README.md")).read_text()


def test_push_a_checkpoint_dir_to_a_branch_and_parse_handle(hub, alice, tmp_path):
    path = zoo.save(randomized("tf"), tmp_path / "ckpt")
    info = push(path, revision="dev", measure=False)
    assert "README.md" in alice.list_repo_files("alice/cnn", revision="dev")
    assert "model.safetensors" not in alice.list_repo_files("alice/cnn")
    assert zoo_hub.pull("hf://alice/cnn@dev").name == info.oid
    assert zoo_hub.parse_handle("hf://a/b@refs/pr/1") == ("a/b", "refs/pr/1")
    with pytest.raises(HubError, match="not a Hub handle"):
        zoo_hub.parse_handle("hf://just-a-name")


def test_cli_push_and_pull(hub, tmp_path, monkeypatch):
    from zoo_core.cli import main

    monkeypatch.setenv("HF_TOKEN", ALICE_TOKEN)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    zoo.save(randomized("torch"), tmp_path / "cnn")
    assert main(["push", str(tmp_path / "cnn"), "alice/cli-cnn", "--private", "--tag", "v1.0"]) == 0
    assert main(["pull", "alice/cli-cnn", "--revision", "v1.0", "--to", str(tmp_path / "local")]) == 0
    assert sorted(p.name for p in (tmp_path / "local").iterdir() if not p.name.startswith(".")) == [
        "README.md", "config.json", "model.safetensors"]
    assert compare(zoo.load(str(tmp_path / "cnn"), framework="torch"),
                   zoo.load(str(tmp_path / "local"), framework="tf"))[0] <= 1e-4


def test_registry_weights_default_are_pulled_and_sha256_checked(hub, tmp_path, monkeypatch):
    from zoo_core.fileio import sha256_file

    model = randomized("torch")
    info = push(model, "alice/digits-weights")
    path = zoo_hub.pull("alice/digits-weights", endpoint=hub_url())
    digest = sha256_file(Path(path) / "model.safetensors")
    entry = f"""models:
  digits_pretrained:
    architecture: simplecnn
    num_classes: 10
    in_chans: 1
    input_size: [28, 28]
    mean: [0.1307]
    std: [0.3081]
    weights: {{repo: alice/digits-weights, revision: "{info.oid}", sha256: "{digest}"}}
"""
    (tmp_path / "reg.yaml").write_text(entry)
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "reg.yaml"))
    zoo.plugins.reset()
    loaded = zoo.load("digits_pretrained", framework="tf", weights="default")
    assert compare(model, loaded)[0] <= 1e-4
    (tmp_path / "reg.yaml").write_text(entry.replace(digest, "f" * 64))
    zoo.plugins.reset()
    with pytest.raises(zoo.ZooError, match="do not match the sha256 in the registry"):
        zoo.load("digits_pretrained", framework="torch", weights="default")
    with pytest.raises(zoo.ZooError, match="has no weights in the registry"):
        zoo.load("simplecnn", framework="torch", weights="default")


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)


@pytest.mark.parametrize(("text", "message"), [(None, "does not exist"), ("{not json", "not valid JSON"),
                                               ("[0.9, 0.8]", "not a JSON object"), ('{"model": "cnn"}', "no numeric")])
def test_push_metrics_file_missing_or_invalid_is_one_line_before_any_push(tmp_path, capsys, text, message):
    from zoo_core.cli import main

    metrics = tmp_path / "metrics.json"
    if text is not None:
        metrics.write_text(text)
    assert main(["push", str(tmp_path / "nowhere"), "alice/cnn", "--metrics", str(metrics)]) == 1
    err = capsys.readouterr().err
    assert message in err and "metrics.json" in err and err.count("\n") == 1, err


def test_read_metrics_keeps_finite_numbers_and_the_dataset(tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"accuracy": 0.9, "n": 10, "bad": NaN, "flag": true, "dataset": "mnist", "per_class": {}}')
    assert zoo_hub.read_metrics(path) == {"accuracy": 0.9, "n": 10, "dataset": "mnist"}
