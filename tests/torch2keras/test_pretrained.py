"""Pretrained timm weights: ``timm:NAME[.TAG]`` pulls the Hub repo ``timm/NAME.TAG`` that timm's own
``push_to_hf_hub`` wrote, and loads it in torch and Keras with timm's logits."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytest.importorskip("tensorflow")

import zoo_core as zoo  # noqa: E402
from tests.conftest_hub import ALICE_TOKEN  # noqa: E402
from zoo_core.errors import HubError, UnknownModelError  # noqa: E402
from zoo_core.torch2keras import verify  # noqa: E402

SIZE = 64


@pytest.fixture
def timm_repo(hub):
    """``timm/resnet18.a1_in1k`` on the test Hub, pushed by timm itself: BatchNorm-calibrated random weights,
    preprocessing recorded at 64 px."""
    hub.add_org("timm", ["alice"])
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32))
    ref = verify.calibrated(timm.create_model("resnet18", pretrained=False), x).eval()
    timm.models.push_to_hf_hub(ref, "timm/resnet18.a1_in1k", token=ALICE_TOKEN, safe_serialization=True,
                               data_config={"input_size": (3, SIZE, SIZE)})
    return ref


def _x(n: int = 2) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((n, 3, SIZE, SIZE)).astype(np.float32)


def test_pretrained_logits_equal_timm_in_both_frameworks(hub, timm_repo):
    x = _x()
    with torch.no_grad():
        want = timm_repo(torch.from_numpy(x)).numpy()
    tm = zoo.load("timm:resnet18", framework="torch", pretrained=True)  # timm's default tag: a1_in1k
    with torch.no_grad():
        got_torch = tm.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got_torch, want)
    km = zoo.load("timm:resnet18.a1_in1k", framework="tf", endpoint=hub.url)  # a tag implies pretrained
    assert km.zoo_spec.entry.input_size == (SIZE, SIZE)  # the repo's pretrained_cfg, not timm's 224
    got_keras = np.asarray(km(x.transpose(0, 2, 3, 1), training=False))
    assert np.max(np.abs(got_keras - want)) <= 1e-4 * np.max(np.abs(want))
    for m in (tm, km):  # ImageNet head: timm's class names
        assert len(m.zoo_labels) == 1000 and m.zoo_labels[0] == "tench, Tinca tinca"
    assert km.zoo_conversion["parity"]["max_rel"] <= 1e-4


def test_pretrained_keras_saves_and_loads_back_in_timm(hub, timm_repo, tmp_path):
    km = zoo.load("timm:resnet18.a1_in1k", framework="keras")
    zoo.save(km, tmp_path / "k")
    cfg = json.loads((tmp_path / "k" / "config.json").read_text())
    assert cfg["architecture"] == "resnet18" and cfg["label_names"][1] == "goldfish, Carassius auratus"
    back = timm.create_model(f"local-dir:{tmp_path / 'k'}", pretrained=True).eval()
    x = _x()
    with torch.no_grad():
        np.testing.assert_allclose(back(torch.from_numpy(x)).numpy(), timm_repo(torch.from_numpy(x)).numpy(),
                                   rtol=0, atol=1e-5)


def test_pretrained_new_head_keeps_the_body(hub, timm_repo):
    tm = zoo.load("timm:resnet18", framework="torch", pretrained=True, num_classes=5)
    assert tm.fc.out_features == 5 and not hasattr(tm, "zoo_labels")
    torch.testing.assert_close(tm.conv1.weight, timm_repo.conv1.weight)
    km = zoo.load("timm:resnet18", framework="tf", pretrained=True, num_classes=5)
    assert km.output_shape[-1] == 5
    k_conv = np.asarray(km.get_layer("conv1").kernel)  # HWIO
    np.testing.assert_array_equal(k_conv, timm_repo.conv1.weight.detach().numpy().transpose(2, 3, 1, 0))


def test_pretrained_bad_input_is_one_line(hub, timm_repo):
    with pytest.raises(HubError, match=r"no repo timm/resnet18\.a2_in1k at"):
        zoo.load("timm:resnet18.a2_in1k", framework="torch")
    with pytest.raises(UnknownModelError, match="resnet18"):
        zoo.load("timm:resnet18x", framework="torch", pretrained=True)
    # a repo under one name whose config.json describes another model
    hub.add_org("timm", ["alice"])
    timm.models.push_to_hf_hub(timm.create_model("resnet10t"), "timm/resnet18.a3_in1k", token=ALICE_TOKEN,
                               safe_serialization=True)
    with pytest.raises(UnknownModelError, match="names architecture 'resnet10t', not 'resnet18'") as err:
        zoo.load("timm:resnet18.a3_in1k", framework="torch")
    assert "\n" not in str(err.value)


def test_pretrained_for_a_catalogue_entry_means_its_registry_weights():
    with pytest.raises(zoo.ZooError, match="has no weights in the registry"):
        zoo.load("resnet18", framework="torch", pretrained=True)  # the zoo's own resnet18, not timm's
    with pytest.raises(zoo.ZooError, match="pretrained=True is for model names"):
        zoo.load("hf://alice/cnn", framework="torch", pretrained=True)
