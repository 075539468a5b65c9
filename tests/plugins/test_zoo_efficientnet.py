"""EfficientNet plugin: torch (timm) and Keras builds agree on weights, parameter counts and logits."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch before TensorFlow (see zoo_core.backends.tf_backend)
timm = pytest.importorskip("timm")
pytest.importorskip("tensorflow")

import zoo_core  # noqa: E402
from zoo_core import backends  # noqa: E402
from zoo_core.plugins import get_architecture  # noqa: E402
from zoo_core.testing import check_architecture  # noqa: E402

SIZE = 64
SEED = 0


@pytest.fixture(scope="module")
def tb():
    return backends.get("torch")


@pytest.fixture(scope="module")
def fb():
    return backends.get("tf")


@pytest.fixture(scope="module")
def torch_model():
    torch.manual_seed(SEED)
    model = zoo_core.load("efficientnet_b0", framework="torch", input_size=SIZE)
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():  # random BN affine and statistics, so a wrong eps/layout/order shows in the logits
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(7)
    return model.eval()


@pytest.fixture(scope="module")
def tf_model(fb):
    fb.seed(SEED)
    return zoo_core.load("efficientnet_b0", framework="tf", input_size=SIZE)


def _shapes(tensors):
    return {k: tuple(v.shape) for k, v in tensors.items()}


def test_architecture_registered_and_meets_the_plugin_contract():
    arch = get_architecture("efficientnet")
    assert arch is not None and arch.frameworks == ("torch", "tf")
    assert arch.stages == ("stem", *(f"stage{i}" for i in range(1, 8)), "head")
    # the kit: no framework import from zoo_efficientnet, every tensor in one stage, freeze by stage, checkpoint
    # round trips, the hand-written Keras builder agrees with the converter (parity is measured below)
    report = check_architecture("efficientnet_b0", input_size=32, checks=("registered", "plugin_import", "build",
                                                                          "save_load", "converter_parity", "stages"))
    assert report.result("converter_parity").status == "ok"


def test_torch_build_is_timm_efficientnet_b0():
    ours = zoo_core.load("efficientnet_b0", framework="torch", num_classes=10, in_chans=1).state_dict()
    ref = timm.create_model("efficientnet_b0", num_classes=10, in_chans=1).state_dict()
    assert list(ours) == list(ref)
    assert _shapes(ours) == _shapes(ref)


def test_param_counts_equal(tb, fb, torch_model, tf_model):
    assert tb.count_params(torch_model) == fb.count_params(tf_model) == 5_288_548


def test_canonical_keys_and_shapes_equal(tb, fb, torch_model, tf_model):
    assert _shapes(fb.to_canonical(tf_model)) == _shapes(tb.to_canonical(torch_model))


def test_logits_match_after_torch_to_tf(tb, fb, torch_model, tf_model):
    fb.from_canonical(tf_model, tb.to_canonical(torch_model))
    x = np.random.default_rng(SEED).standard_normal((2, 3, SIZE, SIZE)).astype(np.float32)
    ref = tb.predict(torch_model, x)
    out = fb.predict(tf_model, x.transpose(0, 2, 3, 1))
    assert out.shape == ref.shape == (2, 1000)
    diff = float(np.abs(out - ref).max())
    scale = float(np.abs(ref).max())
    assert diff <= 1e-4, diff
    assert diff <= 1e-5 * scale, (diff, scale)
    # fully convolutional like timm's: any image size gives torch's logits
    assert tuple(tf_model.input_shape) == (None, None, None, 3)
    x = np.random.default_rng(SEED).standard_normal((2, 3, 40, 56)).astype(np.float32)
    ref, out = tb.predict(torch_model, x), fb.predict(tf_model, x.transpose(0, 2, 3, 1))
    assert float(np.abs(out - ref).max()) <= 1e-5 * float(np.abs(ref).max())


def test_tf_round_trip_bit_exact(fb, tf_model):
    first = fb.to_canonical(tf_model)
    other = zoo_core.load("efficientnet_b0", framework="tf", input_size=SIZE)
    fb.from_canonical(other, first)
    second = fb.to_canonical(other)
    assert set(first) == set(second)
    for key, value in first.items():
        assert second[key].dtype == value.dtype and np.array_equal(second[key], value), key


def test_torch_tf_torch_bit_exact(tb, fb, torch_model, tf_model):
    original = tb.to_canonical(torch_model)
    fb.from_canonical(tf_model, original)
    back = zoo_core.load("efficientnet_b0", framework="torch", input_size=SIZE)
    tb.from_canonical(back, fb.to_canonical(tf_model))
    restored = tb.to_canonical(back)
    assert set(restored) == set(original)
    for key, value in original.items():
        assert restored[key].dtype == value.dtype and np.array_equal(restored[key], value), key


@pytest.mark.parametrize("variant, config", [
    ("efficientnet_b2", {"channel_multiplier": 1.1, "depth_multiplier": 1.2}),
    ("efficientnet_b3", {"channel_multiplier": 1.2, "depth_multiplier": 1.4}),
])
def test_scaled_configs_match_timm(tb, fb, variant, config):
    ours = tb.to_canonical(zoo_core.load("efficientnet_b0", framework="torch", **config))
    ref = {k: v.numpy() for k, v in timm.create_model(variant).state_dict().items()}
    assert _shapes(ours) == _shapes(ref)
    keras_model = zoo_core.load("efficientnet_b0", framework="tf", input_size=32, **config)
    assert _shapes(fb.to_canonical(keras_model)) == _shapes(ours)


def test_keras_overrides_and_small_input(fb):
    model = zoo_core.load("efficientnet_b0", framework="tf", num_classes=10, in_chans=1, input_size=(48, 40),
                          drop_rate=0.2, drop_path_rate=0.2)
    x = np.random.default_rng(SEED).standard_normal((2, 48, 40, 1)).astype(np.float32)
    out = fb.predict(model, x)
    assert out.shape == (2, 10) and np.isfinite(out).all()
    np.testing.assert_array_equal(out, fb.predict(model, x))  # dropout / drop path are inference-identity


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match="width_multiplier"):
        zoo_core.load("efficientnet_b0", framework="tf", width_multiplier=1.1)
