"""The ViT plugin: timm-identical torch model, a Keras twin with the same canonical weights and logits."""

from __future__ import annotations

import fnmatch

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch (and timm) before TensorFlow
timm = pytest.importorskip("timm")
pytest.importorskip("tensorflow")

import zoo_core  # noqa: E402
from zoo_core import backends  # noqa: E402
from zoo_core.plugins import get_architecture  # noqa: E402
from zoo_core.testing import check_architecture  # noqa: E402

TB = backends.get("torch")
KB = backends.get("tf")

# (model, input_size, config overrides): the registered models at a small size, a smaller patch, a non-square input
CASES = [
    ("vit_tiny_patch16_224", (32, 32), {}),
    ("vit_small_patch16_224", (32, 32), {}),
    ("vit_tiny_patch16_224", (48, 32), {"patch_size": 8}),
]


def _randomise(model) -> None:
    """timm initialises LayerNorms to 1/0 and the class token to ~1e-6; make every tensor matter."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "norm" in name:
                p.copy_(1 + 0.2 * noise if name.endswith("weight") else 0.2 * noise)
            elif name in ("cls_token", "pos_embed"):
                p.copy_(0.5 * noise)


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1][0]}x{c[1][1]}-{c[2]}")
def pair(request):
    name, size, cfg = request.param
    torch.manual_seed(0)
    KB.seed(0)
    tm = zoo_core.load(name, framework="torch", input_size=size, **cfg)
    km = zoo_core.load(name, framework="tf", input_size=size, **cfg)
    _randomise(tm)
    return name, size, cfg, tm, km


def test_plugin_contract():
    """The kit: importing zoo_vit loads no framework, checkpoints round-trip, stages freeze in both frameworks, the
    hand-written Keras builder agrees with the converter."""
    report = check_architecture("vit_tiny_patch16_224", input_size=32, checks=(
        "registered", "plugin_import", "build", "save_load", "converter_parity", "stages"))
    assert report.result("converter_parity").status == "ok"
    assert report.ok and report.result("plugin_import").detail.endswith("importing zoo_vit imports no framework")


def test_registered():
    arch = get_architecture("vit")
    assert arch.stages == ("stem", "stage1", "stage2", "stage3", "stage4", "head")
    assert arch.frameworks == ("torch", "tf")
    assert {"vit_tiny_patch16_224", "vit_small_patch16_224"} <= set(zoo_core.list_models("vit*"))


def test_stage_patterns_cover_every_tensor_once(pair):
    _, _, _, tm, _ = pair
    arch = get_architecture("vit")
    counts = dict.fromkeys(arch.stages, 0)
    for key in tm.state_dict():
        hits = [s for s, pats in arch.stage_patterns.items() if any(fnmatch.fnmatchcase(key, p) for p in pats)]
        assert len(hits) == 1, (key, hits)
        counts[hits[0]] += 1
    assert counts == {"stem": 4, "stage1": 36, "stage2": 36, "stage3": 36, "stage4": 36, "head": 4}


def test_torch_model_is_timms(pair):
    name, size, cfg, tm, _ = pair
    ref = timm.create_model(name, img_size=size, **cfg).state_dict()
    own = tm.state_dict()
    assert list(own) == list(ref)
    assert {k: tuple(v.shape) for k, v in own.items()} == {k: tuple(v.shape) for k, v in ref.items()}
    grid = (size[0] // cfg.get("patch_size", 16)) * (size[1] // cfg.get("patch_size", 16))
    assert tuple(own["pos_embed"].shape)[:2] == (1, grid + 1)


def test_param_counts_equal(pair):
    _, _, _, tm, km = pair
    assert TB.count_params(tm) == KB.count_params(km)


def test_keras_names_are_canonical(pair):
    _, _, _, tm, km = pair
    assert set(KB.to_canonical(km)) == set(TB.to_canonical(tm))


def test_logits_match_after_weight_copy(pair):
    _, size, _, tm, km = pair
    KB.from_canonical(km, TB.to_canonical(tm))
    x = np.random.default_rng(0).standard_normal((2, 3, *size)).astype(np.float32)
    lt = TB.predict(tm, x)
    lk = KB.predict(km, x.transpose(0, 2, 3, 1))
    assert lt.shape == lk.shape == (2, 1000)
    diff = float(np.abs(lt - lk).max())
    assert diff <= 1e-4
    assert diff <= 1e-5 * float(np.abs(lt).max())


def test_round_trips_are_bit_exact(pair):
    name, size, cfg, tm, km = pair
    # torch -> tf -> torch
    original = TB.to_canonical(tm)
    KB.from_canonical(km, original)
    twin = zoo_core.load(name, framework="torch", input_size=size, **cfg)
    TB.from_canonical(twin, KB.to_canonical(km))
    back = TB.to_canonical(twin)
    assert set(back) == set(original)
    for key, value in original.items():
        assert back[key].dtype == value.dtype and np.array_equal(back[key], value), key
    # tf -> canonical -> tf
    other = zoo_core.load(name, framework="tf", input_size=size, **cfg)
    KB.from_canonical(other, KB.to_canonical(km))
    assert len(other.weights) == len(km.weights)
    for a, b in zip(km.weights, other.weights, strict=True):
        assert a.path == b.path and np.array_equal(a.numpy(), b.numpy()), a.path


def test_bad_input_size_is_rejected():
    with pytest.raises(ValueError, match="smaller than patch_size"):
        zoo_core.load("vit_tiny", framework="tf", input_size=8)
