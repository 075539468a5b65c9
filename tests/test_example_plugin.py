"""The third-party example plugin examples/zoo-mobilenetv3, installed as pip installs it: its models appear in both
frameworks, load, and round-trip through a checkpoint with parity; uninstalled, they are gone and nothing else
changed."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pytest

import zoo_core as zoo
from tests.plugin_site import install_source, site_without, zoo_with_sites
from zoo_core import backends, plugins
from zoo_core.testing import compare, realistic_weights

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "zoo-mobilenetv3"
MODELS = {"mobilenetv3_small_100", "mobilenetv3_large_100"}


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """(this venv without zoo-mobilenetv3, a site dir holding only the installed example)."""
    root = tmp_path_factory.mktemp("sites")
    return site_without("zoo-mobilenetv3", root / "venv"), install_source(EXAMPLE, root / "example")


def _list(*sites: Path) -> dict[str, dict]:
    proc = zoo_with_sites(list(sites), "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {row["name"]: row for row in json.loads(proc.stdout)}


def _plugins(*sites: Path) -> dict[str, dict]:
    proc = zoo_with_sites(list(sites), "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    return {p["name"]: p for p in json.loads(proc.stdout)}


def test_installed_it_shows_in_both_frameworks_and_uninstalled_it_is_gone(sites):
    venv, example = sites
    without, with_it = _list(venv), _list(venv, example)
    assert set(with_it) >= MODELS
    for name in MODELS:
        assert with_it[name]["frameworks"] == "torch,tf" and with_it[name]["architecture"] == "mobilenetv3"
        assert with_it[name]["input"] == "224x224x3" and with_it[name]["num_classes"] == "1000"
    assert not MODELS & set(without)
    assert {k: v for k, v in with_it.items() if k not in MODELS} == without  # nothing else changed
    shown = _plugins(venv, example)["mobilenetv3"]
    assert shown["distribution"] == "zoo-mobilenetv3" and shown["version"] == "0.1.0" and shown["ok"]
    assert shown["architectures"] == ["mobilenetv3"] and shown["frameworks"] == ["torch", "tf"]
    assert "mobilenetv3" not in _plugins(venv)
    tf_only = zoo_with_sites([venv, example], "list", "mobilenetv3*", "--framework", "keras")
    assert tf_only.returncode == 0 and "mobilenetv3_small_100" in tf_only.stdout


@pytest.fixture
def installed(sites, monkeypatch):
    """The example importable in this process through its entry point (as after pip install)."""
    monkeypatch.syspath_prepend(str(sites[1]))
    importlib.invalidate_caches()
    plugins.reset()
    yield
    plugins.reset()


@pytest.mark.parametrize("source, target", [("tf", "torch"), ("torch", "tf")])
def test_load_save_and_load_in_the_other_framework_with_parity(installed, tmp_path, source, target):
    model = zoo.load("mobilenetv3_small_100", framework=source, num_classes=4, input_size=64)
    be = backends.get(source)
    be.from_canonical(model, realistic_weights(zoo.spec_of(model).entry))  # every tensor random, BN included
    path = zoo.save(model, tmp_path / "mnv3", labels=["a", "b", "c", "d"])
    other = zoo.load(str(path), framework=target)
    assert backends.framework_of(other) == target and other.zoo_labels == ["a", "b", "c", "d"]
    diff, rel, scale = compare(model, other)
    assert diff <= 1e-4 and rel <= 1e-5, (diff, rel, scale)
    again = backends.get(target).to_canonical(other)
    original = be.to_canonical(model)
    assert set(again) == set(original) and all(np.array_equal(again[k], original[k]) for k in original)
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["architecture"] == "mobilenetv3_small_100" and cfg["zoo"]["architecture"] == "mobilenetv3"


def test_a_broken_example_config_is_a_clear_error(installed):
    with pytest.raises(ValueError, match=r"unknown config keys \['width'\]"):
        zoo.load("mobilenetv3_small_100", framework="tf", width=2)
