"""The `zoo` command line, run as a user runs it (a fresh process)."""

from __future__ import annotations

import json

import zoo_core as zoo
from tests.helpers import run_python, run_zoo


def test_list_shows_every_model_with_both_frameworks():
    proc = run_zoo("list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert set(zoo.list_models()) == set(rows)
    assert all(r["frameworks"] == "torch,tf" for r in rows.values())
    assert rows["resnet18"]["input"] == "224x224x3"


def test_list_pattern_and_framework_filter():
    proc = run_zoo("list", "vit*", "-f", "keras")
    assert proc.returncode == 0
    assert "vit_tiny_patch16_224" in proc.stdout and "resnet18" not in proc.stdout


def test_info_shows_entry_stages_and_params_per_framework():
    proc = run_zoo("info", "resnet18")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "stem > stage1 > stage2 > stage3 > stage4 > head" in out
    assert "params (torch) 11,689,512" in out and "params (tf   ) 11,689,512" in out
    assert "mean [0.485, 0.456, 0.406]" in out


def test_unknown_model_is_a_one_line_error_with_suggestions():
    # efficientnet_b9 is neither a catalogue name nor a timm one (efficientnet_b1 is timm's: it loads as timm:...)
    proc = run_zoo("info", "efficientnet_b9")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "zoo: error: unknown model 'efficientnet_b9'; did you mean efficientnet_b0?"


def test_convert_reports_parity_and_writes_a_checkpoint(tmp_path):
    zoo.save(zoo.load("simplecnn", framework="torch"), tmp_path / "pt")
    proc = run_zoo("convert", str(tmp_path / "pt"), "--framework", "tf", "--to", str(tmp_path / "tf"))
    assert proc.returncode == 0, proc.stderr
    assert "parity torch vs tf: max |Δlogits|" in proc.stdout
    cfg = json.loads((tmp_path / "tf" / "config.json").read_text())
    assert cfg["zoo"]["saved_from"] == "tf" and cfg["zoo"]["parity"]["max_abs_logit_diff"] <= 1e-4


def test_info_accepts_a_checkpoint_directory(tmp_path):
    zoo.save(zoo.load("resnet18", framework="tf", num_classes=4, input_size=32), tmp_path / "r18")
    proc = run_zoo("info", str(tmp_path / "r18"), "--json", "--no-params")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["num_classes"] == 4 and info["input_size"] == [32, 32] and info["architecture"] == "resnet"


def test_info_counts_parameters_without_building_the_weights():
    """`zoo info resnet50` used to build it in both frameworks (13 s, 2 GB): now one shape-only torch build."""
    proc = run_python("""
        import sys, zoo_core as zoo
        info = zoo.model_info("resnet50", params=True)
        print("PARAMS", info["params"], "tensorflow" in sys.modules)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "PARAMS {'torch': 25557032, 'tf': 25557032} False" in proc.stdout
