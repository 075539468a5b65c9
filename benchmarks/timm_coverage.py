"""Convert timm models to Keras and write docs/timm-coverage.md: one row per model tried.

Per model: conversion (torch.export -> Keras) with parity on BatchNorm-calibrated weights (limit 1e-4 relative),
one Keras training step (weights and BatchNorm statistics must change), the Keras-saved checkpoint loaded back in
timm (equal logits), the graph reloaded from its stored JSON in safe mode, the zoo's SavedModel and TFLite exporters
(``zoo_core.export.savedmodel``/``tflite``) run on the converted model with its logits; conversion seconds and
transposes.

    PYTHONPATH=.:plugins python benchmarks/timm_coverage.py [--size 64] [--models a,b,...] [--out docs/timm-coverage.md]

Each model runs in its own subprocess (a crash or a hang costs one row), results accumulate in
benchmarks/results/timm_coverage.json so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (timm name, family, input size); small variants so the whole table fits a CPU run
MODELS = [
    ("resnet18", "ResNet", 64), ("resnet50d", "ResNet-D", 64), ("resnet26t", "ResNet-T", 64),
    ("seresnet18", "SE-ResNet", 64), ("resnext26ts", "ResNeXt", 64), ("wide_resnet50_2", "Wide ResNet", 64),
    ("efficientnet_b0", "EfficientNet", 64), ("efficientnetv2_rw_t", "EfficientNetV2", 64),
    ("tf_efficientnet_b0", "EfficientNet (TF)", 64), ("mobilenetv3_small_100", "MobileNetV3", 64),
    ("mobilenetv3_large_100", "MobileNetV3", 64), ("mobilenetv2_050", "MobileNetV2", 64),
    ("mobilenetv4_conv_small", "MobileNetV4", 64), ("convnext_atto", "ConvNeXt", 64),
    ("convnextv2_atto", "ConvNeXt-V2", 64), ("regnetx_002", "RegNet", 64), ("regnety_002", "RegNet", 64),
    ("densenet121", "DenseNet", 64), ("dla34", "DLA", 64), ("cspresnet50", "CSPNet", 64),
    ("cspdarknet53", "CSPNet", 64), ("rexnet_100", "ReXNet", 64), ("ghostnet_100", "GhostNet", 64),
    ("mixnet_s", "MixNet", 64), ("repvgg_a0", "RepVGG", 64), ("hgnetv2_b0", "HGNetV2", 64),
    ("mobileone_s0", "MobileOne", 64), ("fastvit_t8", "FastViT", 64), ("vgg11", "VGG", 64),
    ("inception_v3", "Inception-v3", 96), ("xception41", "Xception", 64), ("poolformer_s12", "PoolFormer", 64),
    ("vit_tiny_patch16_224", "ViT", 224), ("deit_tiny_patch16_224", "DeiT", 224), ("pit_ti_224", "PiT", 224),
    ("swin_tiny_patch4_window7_224", "Swin", 224), ("mixer_b16_224", "MLP-Mixer", 224),
    ("levit_128s", "LeViT", 224), ("tiny_vit_5m_224", "TinyViT", 224), ("mobilevit_xxs", "MobileViT", 256),
    ("edgenext_xx_small", "EdgeNeXt", 256), ("dpn68", "DPN", 64), ("res2net50_14w_8s", "Res2Net", 64),
    ("resnest14d", "ResNeSt", 64), ("selecsls42b", "SelecSLS", 64),
    ("tresnet_m", "TResNet", 64),
    ("hrnet_w18_small", "HRNet", 64), ("nf_resnet26", "NFNet", 64), ("resnetv2_50x1_bit", "ResNetV2 (BiT)", 64),
    ("efficientformer_l1", "EfficientFormer", 224), ("coat_lite_tiny", "CoaT", 224),
    ("crossvit_tiny_240", "CrossViT", 240),
    ("cait_xxs24_224", "CaiT", 224), ("convmixer_768_32", "ConvMixer", 64), ("gernet_s", "GENet", 64),
    ("lcnet_050", "LCNet", 64), ("fbnetc_100", "FBNet", 64), ("mnasnet_100", "MNASNet", 64),
    ("spnasnet_100", "SPNASNet", 64), ("tinynet_e", "TinyNet", 64), ("semnasnet_050", "MNASNet", 64),
    ("eva02_tiny_patch14_224", "EVA-02", 224), ("beit_base_patch16_224", "BEiT", 224),
    ("maxvit_nano_rw_256", "MaxViT", 256), ("coatnet_nano_rw_224", "CoAtNet", 224), ("nest_tiny", "NesT", 224),
    ("twins_svt_small", "Twins", 224), ("visformer_tiny", "Visformer", 224), ("xcit_nano_12_p16_224", "XCiT", 224),
    ("efficientvit_b0", "EfficientViT", 224), ("gcvit_xxtiny", "GCViT", 224), ("sequencer2d_s", "Sequencer", 224),
    ("inception_next_tiny", "InceptionNeXt", 224), ("ese_vovnet19b_dw", "VoVNet", 64),
    # more variants of the families above, and a few more families
    ("resnet34", "ResNet", 64), ("resnet26d", "ResNet-D", 64), ("resnet10t", "ResNet-T", 64),
    ("seresnext26d_32x4d", "SE-ResNeXt", 64), ("efficientnet_lite0", "EfficientNet-Lite", 64),
    ("mobilenetv2_100", "MobileNetV2", 64), ("regnety_004", "RegNet", 64), ("convnext_femto", "ConvNeXt", 64),
    ("ghostnetv2_100", "GhostNetV2", 64), ("repvit_m1", "RepViT", 64), ("hardcorenas_a", "HardCoReNAS", 64),
    ("dla46_c", "DLA", 64), ("mobilevitv2_050", "MobileViT-V2", 256), ("deit_small_patch16_224", "DeiT", 224),
]


def run_one(name: str, size: int) -> dict:
    """Everything measured for one model (in this process)."""

    import numpy as np

    from zoo_core.backends.torch_backend import import_torch

    torch = import_torch()
    import timm

    from zoo_core.backends import keras_weights
    from zoo_core.torch2keras import convert as conv
    from zoo_core.torch2keras import verify

    row: dict = {"model": name, "size": size}
    model = timm.create_model(name, pretrained=False, num_classes=10).eval()
    t = time.perf_counter()
    result = conv.convert(model, (size, size))
    row.update(convert_s=round(time.perf_counter() - t, 1), rel=result.parity.max_rel,
               transposes=result.transposes, layers=len(result.model.layers), dynamic=result.dynamic)
    keras_model = result.model
    # safe-mode reload of the stored graph, same logits
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    again = conv.from_graph(result.graph)
    keras_weights.from_canonical(again, keras_weights.to_canonical(keras_model))
    a = np.asarray(keras_model(x.transpose(0, 2, 3, 1), training=False))
    b = np.asarray(again(x.transpose(0, 2, 3, 1), training=False))
    row["graph_reload"] = bool(np.array_equal(a, b))
    # one training step: weights and BatchNorm statistics change
    import keras

    before = keras_weights.to_canonical(keras_model)
    keras_model.compile(optimizer=keras.optimizers.SGD(0.01),
                        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras_model.train_on_batch(x.transpose(0, 2, 3, 1), np.array([1, 2]))
    after = keras_weights.to_canonical(keras_model)
    changed = [k for k in before if not np.array_equal(before[k], after[k])]
    stats = [k for k in before if k.endswith("running_mean")]
    row["train_weights"] = any(not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
                               for k in changed)
    row["train_bn"] = (not stats) or any(k in changed for k in stats)
    # the Keras weights back in timm: equal logits
    torch_model = timm.create_model(name, pretrained=False, num_classes=10).eval()
    torch_model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in after.items()})
    with torch.no_grad():
        ref = torch_model(torch.from_numpy(x)).numpy()
    got = np.asarray(keras_model(x.transpose(0, 2, 3, 1), training=False))
    row["to_timm_rel"] = float(np.max(np.abs(ref - got)) / max(np.max(np.abs(ref)), 1e-12))
    row.update(export_checks(name, keras_model, size, x.transpose(0, 2, 3, 1), got))
    row["ok"] = bool(row["rel"] <= verify.RTOL and row["to_timm_rel"] <= verify.RTOL and row["train_weights"]
                     and row["train_bn"] and row["graph_reload"] and row.get("savedmodel_rel", 1) <= verify.RTOL
                     and row.get("tflite_rel", 1) <= TFLITE_RTOL)
    return row


TFLITE_RTOL = 1e-3  # TFLite's float kernels (fused, reordered sums) differ from TF's more than TF from torch


def export_checks(name: str, keras_model, size: int, x_nhwc, reference) -> dict:
    """The zoo's SavedModel and TFLite exporters on the converted model: relative Δlogits of each, or the error."""
    import tempfile

    import numpy as np

    from zoo_core.export import savedmodel, tflite
    from zoo_core.export.source import Source
    from zoo_core.torch2keras import timm_models

    entry = timm_models.entry(name).replace(num_classes=10, input_size=(size, size))
    source = Source(keras_model, "tf", f"timm:{name} (converted)", entry, None)
    scale = max(float(np.max(np.abs(reference))), 1e-12)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, module, path in (("savedmodel", savedmodel, Path(tmp) / "sm"),
                                  ("tflite", tflite, Path(tmp) / "model.tflite")):
            t = time.perf_counter()
            try:
                module.write(source, path)
                got = module.runner(path)(x_nhwc)
                out[f"{fmt}_rel"] = float(np.max(np.abs(got - reference)) / scale)
            except Exception as exc:  # an export failure is a row's finding, not the script's
                out[f"{fmt}_error"] = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            out[f"{fmt}_s"] = round(time.perf_counter() - t, 1)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated timm names (default: the built-in list)")
    p.add_argument("--out", default=str(ROOT / "docs" / "timm-coverage.md"))
    p.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "timm_coverage.json"))
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print("RESULT " + json.dumps(run_one(args.one[0], int(args.one[1]))))
        return 0
    wanted = MODELS if not args.models else [(m, next((f for n, f, _ in MODELS if n == m), "?"),
                                               next((s for n, _, s in MODELS if n == m), 64))
                                              for m in args.models.split(",")]
    res_file = Path(args.results)
    res_file.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(res_file.read_text()) if res_file.is_file() else {}
    for name, family, size in run_order(wanted):
        if name in results and not args.models and not results[name].get("error", "").startswith("timeout"):
            continue  # done (a timeout on the shared machine is tried again)
        start = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'plugins'}"}
        try:
            proc = subprocess.run([sys.executable, __file__, "--one", name, str(size)], capture_output=True,
                                  text=True, timeout=args.timeout, env=env)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line:
                row = json.loads(line[7:])
            else:
                err = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
                row = {"model": name, "size": size, "ok": False, "error": err[-1][:300] if err else "crashed"}
        except subprocess.TimeoutExpired:
            row = {"model": name, "size": size, "ok": False, "error": f"timeout after {args.timeout} s"}
        row["family"] = family
        row["wall_s"] = round(time.perf_counter() - start, 1)
        results[name] = row
        res_file.write_text(json.dumps(results, indent=1))
        write_table(results, Path(args.out))
        print(f"{name}: {'ok' if row['ok'] else 'FAIL ' + row.get('error', '')}", flush=True)
    write_table(results, Path(args.out))
    return 0


def run_order(models: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Cheap first: light models before heavy ones, small inputs before 224 px, and within those one model of every
    family before the other variants; a run cut short still covers as many models and families as it can."""
    seen: set[str] = set()
    first: set[str] = set()
    for m in models:
        if m[1] not in seen:
            first.add(m[0])
        seen.add(m[1])
    return sorted(models, key=lambda m: (m[0] in HEAVY, m[2] > 64, m[0] not in first))


# the big ones of the list (tens of millions of parameters or very deep): after the small ones of every family
HEAVY = {"wide_resnet50_2", "densenet121", "cspdarknet53", "beit_base_patch16_224", "mixer_b16_224",
         "convmixer_768_32", "tresnet_m", "resnetv2_50x1_bit", "res2net50_14w_8s", "xception41", "dpn68",
         "inception_v3", "nf_resnet26", "twins_svt_small", "sequencer2d_s", "swin_tiny_patch4_window7_224",
         "maxvit_nano_rw_256", "cait_xxs24_224", "nest_tiny", "efficientformer_l1", "inception_next_tiny"}


def write_table(results: dict, out: Path) -> None:
    rows = [r for name, *_ in MODELS if (r := results.get(name))] + \
        [r for n, r in results.items() if n not in {m for m, *_ in MODELS}]
    ok = [r for r in rows if r["ok"]]
    fams = {r["family"] for r in ok}
    lines = [
        "# timm models converted to Keras 3",
        "",
        "Written by `benchmarks/timm_coverage.py` (`PYTHONPATH=.:plugins python benchmarks/timm_coverage.py`), "
        "torch 2.14.1, TF 2.21, Keras 3, timm 1.0.31, 2 CPU cores, random weights (BatchNorm-calibrated for parity), "
        "10 classes, batch 2.",
        "",
        f"**{len(ok)} of {len(rows)} models, {len(fams)} families pass every check.** Columns: parity = max |Δlogits| "
        "relative to the largest logit on calibrated weights (limit 1e-4); train = one Keras SGD step changed the "
        "weights / the BatchNorm statistics; to timm = the trained Keras weights loaded in timm, relative Δlogits; "
        "graph = the stored Keras JSON reloads in safe mode with identical logits; dynamic = batch/height/width "
        "symbolic in the Keras input; SavedModel / TFLite = the zoo's exporters on the converted model, relative "
        "Δlogits of the exported file against the Keras model (limits 1e-4 / 1e-3).",
        "",
        "| model | family | input | ok | parity | train w/bn | to timm | graph | SavedModel | TFLite | transposes | "
        "layers | dynamic | convert s | error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "rel" in r:
            dyn = "".join(k[0] for k, v in r.get("dynamic", {}).items() if v) or "-"
            lines.append(f"| {r['model']} | {r['family']} | {r['size']} | {'yes' if r['ok'] else 'no'} | "
                         f"{r['rel']:.1e} | {'y' if r['train_weights'] else 'n'}/{'y' if r['train_bn'] else 'n'} | "
                         f"{r['to_timm_rel']:.1e} | {'y' if r['graph_reload'] else 'n'} | {_export(r, 'savedmodel')} | "
                         f"{_export(r, 'tflite')} | {r['transposes']} | {r['layers']} | {dyn} | {r['convert_s']} | "
                         f"{_errors(r)} |")
        else:
            err = r.get("error", "").replace("|", "\\|")
            lines.append(f"| {r['model']} | {r['family']} | {r['size']} | no | | | | | | | | | | | {err} |")
    out.write_text("\n".join(lines) + "\n")


def _export(row: dict, fmt: str) -> str:
    if f"{fmt}_rel" in row:
        return f"{row[fmt + '_rel']:.1e}"
    return "fail" if f"{fmt}_error" in row else "-"


def _errors(row: dict) -> str:
    return "; ".join(f"{fmt}: {row[fmt + '_error']}" for fmt in ("savedmodel", "tflite")
                     if f"{fmt}_error" in row).replace("|", "\\|")


if __name__ == "__main__":
    sys.exit(main())
