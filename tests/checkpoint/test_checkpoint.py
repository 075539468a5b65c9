"""One checkpoint for both frameworks: parity, bit-exact round trips, timm interop, and bad checkpoints."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import zoo_core as zoo
from zoo_core import backends
from zoo_core.errors import CheckpointError
from zoo_core.testing import check_parity, compare, randomize

MODELS = zoo.list_models()
SMALL_INPUT = {"resnet": 64, "efficientnet": 64, "vit": 32}


def small(name: str):
    return SMALL_INPUT.get(zoo.model_info(name)["architecture"])


@pytest.mark.parametrize("direction", [("torch", "tf"), ("tf", "torch")], ids=["torch-to-tf", "tf-to-torch"])
@pytest.mark.parametrize("name", MODELS)
def test_parity_and_bit_exact_round_trip(name, direction):
    report = check_parity(name, *direction, input_size=small(name), num_classes=5)
    assert report.ok and report.max_abs <= 1e-4 and report.max_rel <= 1e-5 and report.roundtrip_exact


def _randomized(name, framework, **kw):
    model = zoo.load(name, framework=framework, **kw)
    b = backends.get(framework)
    b.from_canonical(model, randomize(b.to_canonical(model)))
    return model


def test_save_writes_the_hf_layout_with_sha256(tmp_path):
    model = _randomized("simplecnn", "tf")
    path = zoo.save(model, tmp_path / "cnn", labels=[str(i) for i in range(10)])
    assert sorted(os.listdir(path)) == ["config.json", "model.safetensors"]
    cfg = json.loads((path / "config.json").read_text())
    from zoo_core.fileio import sha256_file

    assert cfg["zoo"]["sha256"] == sha256_file(path / "model.safetensors")
    assert cfg["zoo"]["saved_from"] == "tf" and cfg["label_names"][3] == "3"
    assert cfg["pretrained_cfg"]["input_size"] == [1, 28, 28] and cfg["num_classes"] == 10
    loaded = zoo.load(str(path), framework="torch")
    assert loaded.zoo_labels == [str(i) for i in range(10)]


def test_convert_produces_a_checkpoint_saved_from_the_other_framework(tmp_path):
    model = _randomized("simplecnn", "torch")
    zoo.save(model, tmp_path / "pt")
    zoo.convert(tmp_path / "pt", framework="tf", to=tmp_path / "tf")
    cfg = json.loads((tmp_path / "tf" / "config.json").read_text())
    assert cfg["zoo"]["saved_from"] == "tf"
    diff, rel, _ = compare(model, zoo.load(str(tmp_path / "tf"), framework="tf"))
    assert diff <= 1e-5


def test_saving_over_an_existing_checkpoint_keeps_other_files(tmp_path):
    model = _randomized("simplecnn", "torch")
    path = zoo.save(model, tmp_path / "run")
    (path / "history.json").write_text("{}")
    zoo.save(model, path)
    assert (path / "history.json").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_num_classes_reinitialises_only_the_head(tmp_path, caplog):
    model = _randomized("resnet18", "torch", input_size=32)
    zoo.save(model, tmp_path / "r18")
    with caplog.at_level("WARNING", logger="zoo.checkpoint"):
        fresh = zoo.load(str(tmp_path / "r18"), framework="tf", num_classes=3)
    assert "re-initialised the head (fc.weight, fc.bias" in caplog.text or "fc.bias, fc.weight" in caplog.text
    a = backends.get("torch").to_canonical(model)
    b = backends.get("tf").to_canonical(fresh)
    assert np.array_equal(a["layer4.1.conv2.weight"], b["layer4.1.conv2.weight"])
    assert b["fc.weight"].shape == (3, 512)


def test_shape_mismatch_names_tensor_shapes_and_cause(tmp_path):
    zoo.save(zoo.load("simplecnn", framework="torch"), tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    cfg["zoo"]["num_classes"] = 4
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"'fc2.weight' has shape \(10, 128\) in the checkpoint but \(4, 128\)"
                       r".*pass num_classes=4"):
        zoo.load(str(tmp_path / "a"), framework="tf")


def test_sha256_mismatch_is_refused(tmp_path):
    path = zoo.save(zoo.load("simplecnn", framework="torch"), tmp_path / "a")
    cfg = json.loads((path / "config.json").read_text())
    cfg["zoo"]["sha256"] = "0" * 64
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not match"):
        zoo.load(str(path), framework="torch")


def test_truncated_weights_are_refused(tmp_path):
    path = zoo.save(zoo.load("simplecnn", framework="torch"), tmp_path / "a")
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="sha256"):
        zoo.load(str(path), framework="tf")
    cfg = json.loads((path / "config.json").read_text())
    del cfg["zoo"]["sha256"]
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        zoo.load(str(path), framework="tf")


def test_unknown_architecture_in_config(tmp_path):
    path = zoo.save(zoo.load("simplecnn", framework="torch"), tmp_path / "a")
    cfg = json.loads((path / "config.json").read_text())
    cfg["zoo"]["architecture"] = "mobilenetv9"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(zoo.ArchitectureUnavailableError, match="'mobilenetv9' is provided by no loaded plugin"):
        zoo.load(str(path), framework="torch")


def test_pickle_checkpoints_are_never_unpickled(tmp_path):
    import torch

    (tmp_path / "bin").mkdir()
    torch.save({"x": torch.zeros(1)}, tmp_path / "bin" / "pytorch_model.bin")
    (tmp_path / "bin" / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 10}))
    with pytest.raises(CheckpointError, match="pickle file, which the zoo never unpickles"):
        zoo.load(str(tmp_path / "bin"), framework="torch")
    (tmp_path / "bin" / "pytorch_model.bin").rename(tmp_path / "bin" / "model.safetensors")
    with pytest.raises(CheckpointError, match="is a pickle/zip file, not safetensors"):
        zoo.load(str(tmp_path / "bin"), framework="torch")


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="has no config.json"):
        zoo.load(str(tmp_path), framework="torch")


TIMM_MODELS = [("resnet18", {}), ("efficientnet_b0", {}), ("vit_tiny_patch16_224", {"img_size": 32})]


@pytest.mark.parametrize("name,kwargs", TIMM_MODELS, ids=[m for m, _ in TIMM_MODELS])
def test_checkpoint_written_by_timm_loads_in_tf(tmp_path, name, kwargs):
    import timm
    import torch
    from timm.models import save_for_hf

    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False, num_classes=6, **kwargs).eval()
    with torch.no_grad():
        sd = randomize({k: v.numpy() for k, v in ref.state_dict().items()})
        ref.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    save_for_hf(ref, str(tmp_path / "timm"), safe_serialization=True)
    keras_model = zoo.load(str(tmp_path / "timm"), framework="tf")
    size = kwargs.get("img_size", 224)  # the input size timm's config.json records
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    got = backends.get("tf").predict(keras_model, x.transpose(0, 2, 3, 1))
    assert got.shape == (2, 6)
    assert np.max(np.abs(got - expected)) <= 1e-4


@pytest.mark.parametrize("name,kwargs", TIMM_MODELS, ids=[m for m, _ in TIMM_MODELS])
def test_zoo_checkpoint_loads_in_timm(tmp_path, name, kwargs):
    import timm
    import torch

    size = kwargs.get("img_size", 64)
    model = _randomized(name, "tf", num_classes=6, input_size=size)
    zoo.save(model, tmp_path / "zoo")
    ref = timm.create_model(f"local-dir:{tmp_path / 'zoo'}", pretrained=True).eval()
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    got = backends.get("tf").predict(model, x.transpose(0, 2, 3, 1))
    assert np.max(np.abs(got - expected)) <= 1e-4


def test_loading_in_one_framework_never_imports_the_other(tmp_path):
    from tests.helpers import run_python

    zoo.save(zoo.load("resnet18", framework="torch", input_size=32), tmp_path / "r18")
    proc = run_python(f"""
        import sys, zoo_core as zoo
        zoo.load({str(tmp_path / 'r18')!r}, framework="tf")
        print("TF-LOAD", "torch" in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TF-LOAD False" in proc.stdout
    proc = run_python(f"""
        import sys, zoo_core as zoo
        zoo.load({str(tmp_path / 'r18')!r}, framework="torch")
        print("TORCH-LOAD", "tensorflow" in sys.modules, "keras" in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "TORCH-LOAD False False" in proc.stdout


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)


def _saved_cnn(tmp_path):
    return zoo.save(zoo.load("simplecnn", framework="torch"), tmp_path / "cnn")


@pytest.mark.parametrize("text", ["[1, 2, 3]", "3", '"zoo"', "null", '{"zoo": [1]}', '{"zoo": {"input_size": 5}}',
                                  '{"architecture": "resnet18", "pretrained_cfg": {"input_size": [1, 2]}}',
                                  '{"architecture": 5}'])
def test_a_config_json_that_is_no_object_or_has_bad_fields_is_a_checkpoint_error(tmp_path, text):
    path = _saved_cnn(tmp_path)
    (path / "config.json").write_text(text)
    with pytest.raises(CheckpointError) as info:
        zoo.load(str(path), framework="torch")
    assert "\n" not in str(info.value) and "config.json" in str(info.value)


@pytest.mark.parametrize("labels", [["a", "b"], "abc", [1] * 10, {"a": 1}])
def test_label_names_that_do_not_fit_the_model_fail_at_load(tmp_path, labels):
    path = _saved_cnn(tmp_path)
    cfg = json.loads((path / "config.json").read_text())
    cfg["label_names"] = labels
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"label_names.*10 classes"):
        zoo.load(str(path), framework="torch")
