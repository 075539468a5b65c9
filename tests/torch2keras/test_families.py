"""One timm model per family through the converter at a small input: parity on calibrated weights at conversion,
then equal logits with the model's own weights (the full table with training and export checks is
benchmarks/timm_coverage.py's job; the built-in families are in test_convert.py)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytest.importorskip("tensorflow")

from zoo_core.torch2keras import convert as conv  # noqa: E402

# (timm name, model kwargs that keep it small, input size); one per family, about 10 s each on 2 CPU cores
FAMILIES = [
    ("regnetx_002", {}, 64), ("dla34", {}, 64), ("rexnet_100", {}, 64), ("ghostnet_100", {}, 64),
    ("mixnet_s", {}, 64), ("repvgg_a0", {}, 64), ("hgnetv2_b0", {}, 64), ("fastvit_t8", {}, 64),
    ("poolformer_s12", {}, 64), ("lcnet_050", {}, 64), ("mnasnet_100", {}, 64), ("ese_vovnet19b_dw", {}, 64),
    ("resnest14d", {}, 64), ("gernet_s", {}, 64), ("resnet10t", {}, 64), ("mobilenetv4_conv_small", {}, 64),
    ("convnextv2_atto", {}, 64), ("efficientvit_b0", {}, 64), ("levit_128s", {"img_size": 64}, 64),
    ("edgenext_xx_small", {}, 64), ("nf_resnet26", {}, 64), ("xception41", {}, 64),
    ("swin_tiny_patch4_window7_224", {"img_size": 56, "window_size": 7, "depths": (1, 1, 1, 1)}, 56),
    ("eva02_tiny_patch14_224", {"img_size": 56, "depth": 2}, 56),
]


@pytest.mark.parametrize("name,kwargs,size", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_family_converts_with_parity(name, kwargs, size):
    model = timm.create_model(name, num_classes=5, **kwargs).eval()
    result = conv.convert(model, (size, size))
    assert result.parity.ok and result.parity.max_rel < 1e-4, result.parity
    x = np.random.default_rng(11).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = np.asarray(result.model(x.transpose(0, 2, 3, 1), training=False))
    assert np.max(np.abs(ref - got)) <= 1e-4 * max(np.max(np.abs(ref)), 1e-6)
