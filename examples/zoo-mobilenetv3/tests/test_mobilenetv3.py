"""zoo-mobilenetv3: zoo's plugin contract, plus equivalence with timm's MobileNetV3 (names, shapes, logits).

Run with the package installed (its entry point is how zoo finds it): ``pytest examples/zoo-mobilenetv3/tests``.
"""

from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch (and timm) before TensorFlow in one process
timm = pytest.importorskip("timm")

from zoo_mobilenetv3 import arch  # noqa: E402

import zoo_core as zoo  # noqa: E402
from zoo_core import backends  # noqa: E402
from zoo_core.testing import check_architecture, realistic_weights  # noqa: E402

SIZE = 64


def test_found_through_its_entry_point():
    points = [ep for ep in md.entry_points(group="zoo") if ep.value == "zoo_mobilenetv3"]
    assert points and points[0].dist.name == "zoo-mobilenetv3", "pip install ./examples/zoo-mobilenetv3 first"
    info = {p.name: p for p in zoo.list_plugins()}["mobilenetv3"]
    assert info.ok and info.architectures == ["mobilenetv3"] and info.frameworks == ["torch", "tf"]
    assert zoo.list_models("mobilenetv3*", framework="tf") == ["mobilenetv3_large_100", "mobilenetv3_small_100"]


def test_small_meets_the_zoo_plugin_contract():
    report = check_architecture("mobilenetv3_small_100", input_size=SIZE)
    assert report.ok and len(report.results) == 15
    assert report.result("converter_parity").status == "ok"  # the hand-written Keras builder = the converter's


def test_large_meets_the_zoo_plugin_contract():
    check_architecture("mobilenetv3_large_100", input_size=SIZE,
                       checks=("registered", "build", "output_shape", "param_parity", "canonical_names",
                               "logits_parity", "stages"))


@pytest.mark.parametrize("variant, multiplier", list(arch.TIMM_NAMES))
def test_torch_model_is_timms_with_the_same_logits(variant, multiplier):
    name = arch.TIMM_NAMES[(variant, multiplier)]
    ours = zoo.load("mobilenetv3_small_100", framework="torch", num_classes=7, in_chans=1, input_size=SIZE,
                    variant=variant, channel_multiplier=multiplier).eval()
    ref = timm.create_model(name, num_classes=7, in_chans=1).eval()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    weights = realistic_weights(zoo.spec_of(ours).entry)
    backends.get("torch").from_canonical(ours, weights)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    x = torch.randn(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        np.testing.assert_array_equal(ours(x).numpy(), ref(x).numpy())


@pytest.mark.parametrize("name", ["mobilenetv3_small_100", "mobilenetv3_large_100"])
def test_parameter_counts_equal_timms_in_both_frameworks(name):
    expected = sum(p.numel() for p in timm.create_model(name).parameters())
    for fw in ("torch", "tf"):
        assert backends.get(fw).count_params(zoo.load(name, framework=fw, input_size=SIZE)) == expected


def test_timm_loads_a_checkpoint_saved_from_keras(tmp_path):
    model = zoo.load("mobilenetv3_small_100", framework="tf", num_classes=3, input_size=SIZE)
    backends.get("tf").from_canonical(model, realistic_weights(zoo.spec_of(model).entry))
    zoo.save(model, tmp_path / "mnv3")
    ref = timm.create_model(f"local-dir:{tmp_path / 'mnv3'}", pretrained=True).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x)).numpy()
    got = backends.get("tf").predict(model, x.transpose(0, 2, 3, 1))
    assert expected.shape == (2, 3) and float(np.abs(got - expected).max()) <= 1e-4


def test_freeze_until_a_stage_trains_only_the_rest():
    model = zoo.load("mobilenetv3_small_100", framework="tf", num_classes=3, input_size=SIZE)
    assert zoo.freeze(model, until="stage5") == ["stem", "stage1", "stage2", "stage3", "stage4", "stage5"]
    trainable = {stage: on for stage, _, on in zoo.trainable_summary(model)}
    assert trainable == {**dict.fromkeys(["stem", "stage1", "stage2", "stage3", "stage4", "stage5"], False),
                         "stage6": True, "head": True}


def test_bad_config_is_rejected_with_the_known_keys():
    with pytest.raises(ValueError, match="variant must be one of"):
        zoo.load("mobilenetv3_small_100", framework="torch", variant="medium")
    with pytest.raises(ValueError, match=r"unknown config keys \['depth_multiplier'\]"):
        zoo.load("mobilenetv3_large_100", framework="tf", depth_multiplier=1.2)
