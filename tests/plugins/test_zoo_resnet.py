"""The ResNet plugin: timm's ResNet in torch, a hand-written Keras twin, and weights that move between them."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # imported before TensorFlow (zoo_core.frameworks.import_torch explains why)

import zoo_core
from zoo_core import backends
from zoo_core.testing import check_architecture

SIZE = 64
BATCH = 2
SEED = 0
# Parameter counts of the reference ResNets (1000 classes, 3 channels), as torchvision and timm report them.
PARAMS = {"resnet18": 11_689_512, "resnet50": 25_557_032}


@pytest.fixture(scope="module")
def tb():
    return backends.get("torch")


@pytest.fixture(scope="module")
def fb():
    return backends.get("tf")


def randomise_bn(model: torch.nn.Module, size: int, seed: int = SEED) -> None:
    """Give every BatchNorm non-trivial weight, bias, running_mean, running_var and num_batches_tracked.

    The statistics are set from one train-mode batch so activations stay O(1) through the network (independent
    random statistics let the residual stream grow to logits in the hundreds, where float32 alone gives |Δ| > 1e-4),
    then perturbed: running_var is the batch's second moment times U(0.75, 1.25), running_mean a small random offset.
    """
    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one batch sets the statistics
        model.train()
        model(torch.randn(BATCH, model.in_chans, size, size, generator=g))
        model.eval()
        for m in bns:
            m.momentum = 0.1
            second = m.running_var + m.running_mean.square()
            m.running_var.copy_(second * (torch.rand(m.num_features, generator=g) * 0.5 + 0.75))
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1 * second.sqrt())


def batch(in_chans: int, size: int) -> np.ndarray:
    return np.random.default_rng(SEED).standard_normal((BATCH, in_chans, size, size)).astype(np.float32)


def build_pair(name: str, tb, fb, **kwargs):
    tb.seed(SEED)
    fb.seed(SEED)
    tm = zoo_core.load(name, framework="torch", **kwargs)
    km = zoo_core.load(name, framework="tf", **kwargs)
    return tm, km


def assert_logits_close(tm, km, x: np.ndarray, tb, fb) -> tuple[float, float]:
    a = tb.predict(tm, x)
    b = fb.predict(km, x.transpose(0, 2, 3, 1))  # Keras takes NHWC
    assert a.shape == b.shape
    diff = float(np.abs(a - b).max())
    rel = diff / float(np.abs(a).max())
    assert diff <= 1e-4, f"max |Δlogits| {diff:.3e} (relative {rel:.3e})"
    assert rel <= 1e-5, f"max |Δlogits| {diff:.3e} is {rel:.3e} of the largest |logit|"
    assert (a.argmax(1) == b.argmax(1)).all()
    return diff, rel


def assert_same_tensors(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        assert got[key].shape == value.shape, key
        assert np.array_equal(got[key], value), key


@pytest.fixture(scope="module", params=["resnet18", "resnet50"])
def pair(request, tb, fb):
    """(name, torch model with randomised BN, Keras model holding the same weights, canonical tensors)."""
    tm, km = build_pair(request.param, tb, fb, input_size=SIZE)
    randomise_bn(tm, SIZE)
    canonical = tb.to_canonical(tm)
    fb.from_canonical(km, canonical)
    return request.param, tm, km, canonical


def test_plugin_contract():
    """The kit every plugin runs: importing zoo_resnet loads no framework, stages cover every tensor and freeze
    stage by stage in both frameworks, checkpoints round-trip, the hand-written Keras builder agrees with the
    converter (parity is measured below at two depths)."""
    report = check_architecture("resnet18", input_size=32, checks=("registered", "plugin_import", "build",
                                                                   "save_load", "converter_parity", "stages"))
    assert report.ok and report.frameworks == ("torch", "tf")
    assert report.result("converter_parity").status == "ok"
    arch = zoo_core.plugins.get_architecture("resnet")
    assert arch.stages == ("stem", "stage1", "stage2", "stage3", "stage4", "head")
    assert {"resnet18", "resnet34", "resnet50"} <= set(zoo_core.list_models("resnet*"))


def test_param_counts_equal(pair, tb, fb):
    name, tm, km, _ = pair
    assert tb.count_params(tm) == fb.count_params(km) == PARAMS[name]


def test_keras_layers_named_after_torch_modules(pair):
    _, tm, km, canonical = pair
    weighted = {layer.name for layer in km.layers if layer.weights}
    modules = {key.rsplit(".", 1)[0] for key in canonical}
    assert weighted == modules
    assert {"conv1", "bn1", "layer1.0.conv1", "layer2.0.downsample.0", "layer2.0.downsample.1", "fc"} <= weighted


def test_logits_match_torch_to_keras(pair, tb, fb):
    _, tm, km, _ = pair
    assert_logits_close(tm, km, batch(3, SIZE), tb, fb)


def test_keras_takes_any_image_size_like_torch(pair, tb, fb):
    """The hand-written Keras ResNet is fully convolutional like timm's: other sizes give torch's logits."""
    _, tm, km, _ = pair
    assert tuple(km.input_shape) == (None, None, None, 3)
    rng = np.random.default_rng(3)
    for h, w in ((48, 40), (71, 96)):
        assert_logits_close(tm, km, rng.standard_normal((2, 3, h, w)).astype(np.float32), tb, fb)


def test_tf_round_trip_is_bit_exact(pair, tb, fb):
    name = pair[0]
    rng = np.random.default_rng(SEED)
    _, fresh = build_pair(name, tb, fb, input_size=SIZE)
    for w in fresh.weights:  # every variable random, independent of torch (the counters too)
        if w.dtype == "int64":
            w.assign(np.int64(7))
        else:
            w.assign(rng.standard_normal(tuple(w.shape)).astype(w.dtype))
    exported = fb.to_canonical(fresh)
    _, again = build_pair(name, tb, fb, input_size=SIZE)
    fb.from_canonical(again, exported)
    assert_same_tensors(fb.to_canonical(again), exported)
    for a, b in zip(fresh.weights, again.weights, strict=True):
        assert a.path == b.path and np.array_equal(a.numpy(), b.numpy()), a.path


def test_torch_tf_torch_round_trip_is_bit_exact(pair, tb, fb):
    name, _, km, canonical = pair
    back = fb.to_canonical(km)
    assert_same_tensors(back, canonical)
    tm2 = zoo_core.load(name, framework="torch", input_size=SIZE)
    tb.from_canonical(tm2, back)
    assert_same_tensors(tb.to_canonical(tm2), canonical)


def test_odd_input_size_channels_and_classes(tb, fb):
    """Non-224, odd input sizes (every stride-2 layer sees an odd side), one channel, 7 classes."""
    size = 45
    tm, km = build_pair("resnet18", tb, fb, input_size=size, in_chans=1, num_classes=7)
    randomise_bn(tm, size)
    fb.from_canonical(km, tb.to_canonical(tm))
    assert tb.count_params(tm) == fb.count_params(km)
    assert_logits_close(tm, km, batch(1, size), tb, fb)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="block"):
        zoo_core.load("resnet18", framework="torch", block="wide")
    with pytest.raises(ValueError, match="layers"):
        zoo_core.load("resnet18", framework="tf", layers=[2, 2])
