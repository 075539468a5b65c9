"""One timm model per family through the converter at a small input: parity on calibrated weights at conversion,
then equal logits with the model's own weights (the full table with training and export checks is
benchmarks/timm_coverage.py's job; the built-in families are in test_convert.py). Every family that passes in the
table (benchmarks/results/timm_coverage.json) has its test here or in test_convert.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# (family as in the coverage table, timm name, model kwargs that keep it small, input size): one per family, the
# smallest variant, made shallower where timm allows; about 10 s each on 2 CPU cores
FAMILIES = [
    ("RegNet", "regnetx_002", {}, 64), ("DLA", "dla34", {}, 64), ("ReXNet", "rexnet_100", {}, 64),
    ("GhostNet", "ghostnet_100", {}, 64), ("MixNet", "mixnet_s", {}, 64), ("RepVGG", "repvgg_a0", {}, 64),
    ("HGNetV2", "hgnetv2_b0", {}, 64), ("FastViT", "fastvit_t8", {}, 64), ("PoolFormer", "poolformer_s12", {}, 64),
    ("LCNet", "lcnet_050", {}, 64), ("MNASNet", "mnasnet_100", {}, 64), ("VoVNet", "ese_vovnet19b_dw", {}, 64),
    ("ResNeSt", "resnest14d", {}, 64), ("GENet", "gernet_s", {}, 64), ("ResNet-T", "resnet10t", {}, 64),
    ("MobileNetV4", "mobilenetv4_conv_small", {}, 64), ("ConvNeXt-V2", "convnextv2_atto", {}, 64),
    ("EfficientViT", "efficientvit_b0", {}, 64), ("LeViT", "levit_128s", {"img_size": 64}, 64),
    ("EdgeNeXt", "edgenext_xx_small", {}, 64), ("NFNet", "nf_resnet26", {}, 64), ("Xception", "xception41", {}, 64),
    ("Swin", "swin_tiny_patch4_window7_224", {"img_size": 56, "window_size": 7, "depths": (1, 1, 1, 1)}, 56),
    ("EVA-02", "eva02_tiny_patch14_224", {"img_size": 56, "depth": 2}, 56),
    ("ResNet-D", "resnet18d", {}, 64), ("SE-ResNet", "seresnet18", {}, 64), ("ResNeXt", "resnext26ts", {}, 64),
    ("Wide ResNet", "wide_resnet50_2", {"layers": (1, 1, 1, 1)}, 64),
    ("EfficientNet (TF)", "tf_efficientnet_b0", {}, 64),
    ("MobileNetV2", "mobilenetv2_035", {"depth_multiplier": 0.5}, 64),
    ("MobileOne", "mobileone_s1", {}, 64), ("CSPNet", "cspresnet50", {}, 64),
    ("SelecSLS", "selecsls42b", {}, 64), ("HRNet", "hrnet_w18_small", {}, 64), ("FBNet", "fbnetc_100", {}, 64),
    ("SPNASNet", "spnasnet_100", {}, 64), ("TinyNet", "tinynet_e", {}, 64),
    ("EfficientNet-Lite", "efficientnet_lite0", {}, 64), ("HardCoReNAS", "hardcorenas_a", {}, 64),
    ("GhostNetV2", "ghostnetv2_100", {}, 64),
    ("DenseNet", "densenet121", {"block_config": (1, 1, 1, 1)}, 64), ("DPN", "dpn68", {"k_sec": (1, 1, 1, 1)}, 64),
    ("Res2Net", "res2net50_14w_8s", {"layers": (1, 1, 1, 1)}, 64),
    ("TResNet", "tresnet_m", {"layers": (1, 1, 1, 1)}, 64), ("ResNetV2 (BiT)", "resnetv2_50x1_bit", {}, 64),
    ("ConvMixer", "convmixer_1024_20_ks9_p14", {}, 64),
    ("DeiT", "deit_tiny_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 2}, 32),
    ("PiT", "pit_ti_224", {"img_size": 64, "depth": (1, 1, 1)}, 64),
    ("TinyViT", "tiny_vit_5m_224", {"depths": (1, 1, 1, 1)}, 64), ("MobileViT", "mobilevit_xxs", {}, 32),
    ("CoAtNet", "coatnet_nano_rw_224", {"img_size": 64}, 64), ("MLP-Mixer", "mixer_s32_224", {"img_size": 64}, 64),
    ("EfficientFormer", "efficientformer_l1", {"depths": (1, 1, 1, 1)}, 224),
    ("RepViT", "repvit_m0_9", {"depth": (1, 1, 1, 1)}, 64),
    ("CoaT", "coat_lite_tiny", {"img_size": 64, "serial_depths": (1, 1, 1, 1)}, 64),  # a parameter shared by 2 paths
]

# Traced with only the batch symbolic: the ops each family emits are what this file checks, and tracing with a
# symbolic height and width costs torch.export 1.5-3x the time (20-70 s for window padding, unfolding or resizing
# to the input size). Conversion at symbolic sizes, the converter's default, is tested on the built-in families in
# test_convert.py and on every family by benchmarks/timm_coverage.py (its "dynamic" column).
DYNAMIC = "batch"

# the families test_convert.py's test_parity_per_family converts (its timm names)
CONVERT_FAMILIES = {"ResNet": "resnet18", "EfficientNet": "efficientnet_b0", "MobileNetV3": "mobilenetv3_small_100",
                    "ConvNeXt": "convnext_atto", "ViT": "vit_tiny_patch16_224"}


def test_every_passing_family_has_a_test():
    """A family that passes in the coverage table has a converter test in the test command (here or in
    test_convert.py); no cheap stand-in: the names tested are models the table lists or their smaller variants."""
    table = json.loads((ROOT / "benchmarks/results/timm_coverage.json").read_text())
    passing = {row["family"] for row in table.values() if row.get("ok")}
    tested = [f[0] for f in FAMILIES] + list(CONVERT_FAMILIES)
    assert len(tested) == len(set(tested)), "a family tested twice"
    missing = sorted(passing - set(tested))
    assert not missing, f"families passing in benchmarks/results/timm_coverage.json without a test: {missing}"
    convert_src = (ROOT / "tests/torch2keras/test_convert.py").read_text()
    assert all(f'("{name}"' in convert_src for name in CONVERT_FAMILIES.values())


@pytest.mark.parametrize("family,name,kwargs,size", FAMILIES, ids=[f"{f[0]}-{f[1]}" for f in FAMILIES])
def test_family_converts_with_parity(family, name, kwargs, size):
    torch = pytest.importorskip("torch")
    timm = pytest.importorskip("timm")
    pytest.importorskip("tensorflow")
    from zoo_core.torch2keras import convert as conv

    model = timm.create_model(name, num_classes=5, **kwargs).eval()
    with torch.no_grad():  # timm zero-initialises some heads (MLP-Mixer): logits that depend on the input
        for p in model.parameters():
            if p.dim() >= 2 and not p.any():
                p.normal_(0.0, 0.02)
    result = conv.convert(model, (size, size), dynamic=DYNAMIC)
    assert result.parity.ok and result.parity.max_rel < 1e-4, result.parity
    x = np.random.default_rng(11).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.ptp(ref, axis=0).max() > 0  # the logits depend on the input: the comparison means something
    got = np.asarray(result.model(x.transpose(0, 2, 3, 1), training=False))
    assert np.max(np.abs(ref - got)) <= 1e-4 * max(np.max(np.abs(ref)), 1e-6)
