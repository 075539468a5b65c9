"""zoo bench: a tiny end-to-end run in both frameworks produces the files with sane fields (no timing asserts)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_zoo
from zoo_core.bench.common import median, percentile
from zoo_core.bench.overhead import median_ci, pooled, spread, training_summary


def test_statistics():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert percentile([7.0], 50) == 7.0
    assert spread([1.0, 1.0, 1.0]) == 0.0


def test_overhead_ratio_pairs_adjacent_epochs():
    """The machine slowing down mid-run (here from the third plain epoch on) is not read as zoo overhead: each
    zoo epoch is compared with the plain epoch that ran right after it."""
    zoo = [9.0, 1.0, 1.0, 1.0, 2.0, 2.0]  # the first is the warm-up (tracing), left out of the ratio
    plain = [5.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    summary = training_summary(zoo, plain, warmup=1)
    assert summary["train_ratio"] == 1.0  # the ratio of the medians would say 2.0
    assert summary["train_epoch_seconds"] == {"zoo": 1.0, "plain": 2.0}
    assert summary["train_first_epoch_ratio"] == pytest.approx(5 / 9)
    assert summary["train_noise"] == 0.0  # pair ratios 1, 1, 2, 1, 1: the odd one is outside the quartiles
    with pytest.raises(ValueError, match="more epochs than warm-up"):
        training_summary([1.0], [1.0], warmup=1)


def test_median_confidence_interval_from_order_statistics():
    assert median_ci([2.0, 1.0]) == (1.0, 2.0, 0.5)  # two values: (min, max) holds the median half the time
    low, high, coverage = median_ci([float(v) for v in range(1, 11)])
    assert (low, high) == (2.0, 9.0) and coverage == pytest.approx(1 - 2 * 11 / 1024)  # x(2)..x(9) of 10
    low, high, coverage = median_ci([float(v) for v in range(1, 65)])
    assert (low, high) == (24.0, 41.0) and coverage >= 0.95  # ~ 32.5 -/+ 1.96 * sqrt(64) / 2


def test_pooled_overhead_takes_every_rows_pairs_per_framework():
    def row(framework, zoo, plain, inf_zoo, inf_plain):
        return {"framework": framework, "overhead": {"raw": {"train": {"zoo": zoo, "plain": plain},
                                                             "inference": {"zoo": inf_zoo, "plain": inf_plain}}}}

    results = {"config": {"warmup": 1}, "runs": [
        row("torch", [9.0, 1.0, 1.0], [9.0, 0.9, 1.0], [1.0, 2.0], [1.0, 2.0]),
        row("torch", [9.0, 2.0, 2.0], [1.0, 2.0, 2.2], [1.0], [1.1]),
        row("tf", [5.0, 1.0], [5.0, 2.0], [1.0], [0.5]),
        {"framework": "tf"},  # a row measured without the overhead comparison
    ]}
    out = pooled(results)
    assert out["torch"]["train"]["pairs"] == 4  # warm-up epochs left out
    assert out["torch"]["train"]["ratio"] == pytest.approx(1.0)  # of 0.9, 1.0, 1.0, 1.1
    assert out["torch"]["inference"]["pairs"] == 3 and out["torch"]["inference"]["ratio"] == 1.0
    assert out["tf"]["train"] == {"ratio": 2.0, "low": 2.0, "high": 2.0, "coverage": 0.0, "pairs": 1}
    assert out["tf"]["inference"]["ratio"] == 0.5


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0


def test_bench_both_frameworks_writes_results(tmp_path):
    out = tmp_path / "bench"
    # 48 images, batch 8, 2 epochs: 12 steps, as long as the tuning trial, so the zoo side runs it
    proc = run_zoo("bench", "simplecnn", "--frameworks", "torch,tf", "--batch", "8", "--data", "digits",
                   "--limit", "48", "--input-size", "16", "--epochs", "1", "--warmup", "1", "--rounds", "1",
                   "--latency-reps", "3", "--startup-repeats", "1", "--out", str(out), timeout=600,
                   env={"ZOO_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "import_zoo_core:" in proc.stdout and "zoo_list:" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["models"] == ["simplecnn"] and results["errors"] == []
    assert [(r["framework"], r["batch"]) for r in results["runs"]] == [("torch", 8), ("tf", 8)]
    for r in results["runs"]:
        t, i, o = r["train"], r["inference"], r["overhead"]
        assert t["images"] == 48 and t["steps_per_epoch"] == 6 and len(t["epoch_seconds"]) == 2
        tuned = t["tuning"]  # the zoo side's chosen settings, decided by a trial in this run
        assert tuned["mode"] == "auto" and tuned["source"] == "trial"
        chosen = set(tuned["chosen"].split("+")) - {"default"}  # e.g. "channels_last+fused"
        assert tuned["settings"] == {**({"channels_last": True} if "channels_last" in chosen else {}),
                                     **({"fused_optimizer": True} if "fused" in chosen else {})}
        if r["framework"] == "torch":
            assert set(tuned["trial"]["seconds"]) == {"default", "channels_last"}
            assert chosen <= {"channels_last", "fused"} and tuned["trial"]["exact"]["channels_last"]
        else:  # on a CPU Keras has a single candidate: nothing timed, and the log says why
            assert tuned["chosen"] == "default" and "trial" not in tuned and "jit_compile" in tuned["notes"][0]
        assert all(_positive(t[k]) for k in ("seconds_per_epoch", "images_per_second", "peak_rss_mb"))
        assert t["peak_rss_mb"] >= t["rss_before_mb"] > 50  # a framework is loaded: tens of MiB at least
        assert all(_positive(i[k]) for k in ("images_per_second", "latency_b1_p50_ms", "latency_p50_ms"))
        assert i["latency_b1_p95_ms"] >= i["latency_b1_p50_ms"]
        s = r["startup"]
        assert s["ttfp_s"] == pytest.approx(s["import_s"] + s["build_s"] + s["first_forward_s"])
        assert _positive(o["train_ratio"]) and _positive(o["inference_ratio"])
        assert len(o["raw"]["train"]["zoo"]) == 2 and len(o["raw"]["train"]["plain"]) == 2
        assert _positive(r["matmul"]["peak_flops"])
        assert 0 < r["efficiency"]["fraction_of_peak"] < 1
    flops = results["flops"]["simplecnn"]
    assert flops["train_flops_per_image"] > 2 * flops["forward_flops_per_image"] > 0
    startup = results["startup"]
    assert startup["import_zoo_core"]["frameworks_imported"] == []  # checked, not timed: the machine is shared
    assert startup["zoo_list"]["frameworks_imported"] == []
    assert set(startup["load"]) == {"simplecnn/torch", "simplecnn/tf"}
    for load in startup["load"].values():  # a fresh process: at least the interpreter start and the framework import
        assert load["wall_s"] > load["in_process_s"] > 0
    assert {fw: p["train"]["pairs"] for fw, p in results["overhead_pooled"].items()} == {"torch": 1, "tf": 1}
    assert "overhead, all torch rows: train" in proc.stdout
    md = (out / "results.md").read_text()
    for heading in ("## Training", "## Inference", "## The zoo's tuned loop against the plain loop",
                    "### All rows together", "## Start-up", "## FLOPs"):
        assert heading in md
    assert "zoo's tuned settings" in md and "tuned: simplecnn torch batch 8:" in proc.stdout
    assert "| simplecnn | tf | 8 |" in md and "zoo bench simplecnn --frameworks torch,tf --batch 8" in md
    assert (out / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["simplecnn", "--batch", "0"], "batch sizes must be positive"),
    (["simplecnn", "--batch", "64", "--limit", "16"], "smaller than the largest batch"),
    (["resnet_18"], "unknown model 'resnet_18'; did you mean"),
    (["simplecnn", "--frameworks", "jax"], "jax"),
    (["simplecnn", "--data", "nonesuch"], "neither a built-in dataset"),
    (["simplecnn", "--tune", "fast"], "tune must be one of auto, off"),
])
def test_bad_settings_are_one_line_errors(args, message, tmp_path):
    proc = run_zoo("bench", *args, "--out", str(tmp_path / "b"))
    assert proc.returncode == 1
    assert proc.stderr.startswith("zoo: error:") and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_overhead_verdict_separates_slow_from_noisy():
    from zoo_core.bench.report import overhead_verdict, verdict

    assert verdict(0.99, 0.01) == "yes"
    assert verdict(0.95, 0.10) == "within noise"  # 5 % slower, but repeated timings spread 10 %
    assert verdict(0.80, 0.05) == "no"
    assert verdict(0.90, float("nan")) == "no"  # one timing: no spread to hide in
    row = {"train_ratio": 1.02, "train_noise": 0.05, "inference_ratio": 0.90, "inference_noise": 0.04}
    assert overhead_verdict(row) == "no"


def test_tuned_text_names_the_setting_and_how_it_was_decided():
    from zoo_core.bench.report import tuned_text

    chosen = {"source": "trial", "chosen": "channels_last", "speedup": 1.5}
    assert tuned_text(chosen) == "channels_last (1.50x in trial)"
    assert tuned_text({"source": "cache", "chosen": "default", "speedup": 1.0}) == "default"
    assert tuned_text({"source": "skipped", "chosen": "default"}) == "default (skipped)"
    assert tuned_text(None) == "–"
    verdicts = {"channels_last": {"median": 0.87, "faster_pairs": 0, "pairs": 4, "verdict": "slower"},
                "fused": {"median": 1.02, "faster_pairs": 3, "pairs": 4, "verdict": "ambiguous"}}
    assert tuned_text({"source": "trial", "chosen": "default", "speedup": 1.0, "verdicts": verdicts}) == \
        "default (trial: channels_last 0.87x 0/4 slower, fused 1.02x 3/4 ambiguous)"


def test_photos_folder_and_the_plain_loops_that_decode_it(tmp_path):
    """--data photos: real JPEGs in four classes; the plain loops read them every epoch, as the zoo does."""
    import zoo_core
    from zoo_core.bench import photos
    from zoo_core.bench.overhead import PlainKerasFiles, PlainTorchFiles, plain_side
    from zoo_core.data import Preprocess, open_dataset

    root = photos.make_folder(tmp_path / "photos", 8)
    assert sorted(p.parent.name for p in root.glob("*/*.jpg")) == sorted(photos.CLASSES * 2)
    assert photos.make_folder(root, 8) == root  # kept as it is
    data = open_dataset(str(root), split=(1.0, 0.0, 0.0))
    assert not data.train.in_memory and data.num_classes == 4
    for framework, kind in (("torch", PlainTorchFiles), ("tf", PlainKerasFiles)):
        model = zoo_core.load("simplecnn_cifar", framework, num_classes=4, input_size=16)
        pre = Preprocess.for_model(model)
        plain = plain_side(model, framework, None, data.train.labels, 4, 1e-3, 0, split=data.train, pre=pre)
        assert isinstance(plain, kind)
        assert plain.epoch() > 0 and plain.predict() > 0


def test_plain_epochs_run_in_the_default_memory_format():
    """The zoo's channels_last weights are put back to the default layout for the plain loop's epochs."""
    import torch

    import zoo_core
    from zoo_core.bench.overhead import default_layout

    model = zoo_core.load("simplecnn_cifar", "torch", num_classes=4, input_size=16)
    model.to(memory_format=torch.channels_last)
    convs = [p for p in model.parameters() if p.dim() == 4]
    with default_layout(model):
        assert all(p.is_contiguous() for p in convs)
    assert all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs)
