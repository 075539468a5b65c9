"""Broken third-party plugins on the command line, all installed at once: one that raises at import, one that
registers an architecture name already taken, one whose registry reuses a model name. `zoo list` still works and
shows everything else; `zoo plugins` shows each plugin's distribution, version, architectures and frameworks, and
names every failing plugin with its reason."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_zoo, write_distribution
from tests.test_plugins import (
    BROKEN_PLUGIN,
    DUPLICATE_ARCH_PLUGIN,
    DUPLICATE_MODEL_PLUGIN,
    GOOD_PLUGIN,
    TINY_REGISTRY,
)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    write_distribution(site, "zoo-tinynet", "zoo_tinynet", GOOD_PLUGIN, files={"tinynet_registry.yaml": TINY_REGISTRY},
                       version="2.3.1")
    write_distribution(site, "zoo-broken", "zoo_broken", BROKEN_PLUGIN)
    write_distribution(site, "zoo-dup", "zoo_dup", DUPLICATE_ARCH_PLUGIN)
    write_distribution(site, "zoo-dupmodel", "zoo_dupmodel", DUPLICATE_MODEL_PLUGIN,
                       files={"dup_registry.yaml": TINY_REGISTRY.replace("tinynet_digits", "resnet18")
                              .replace("tinynet", "simplecnn")})
    return {"PYTHONPATH": str(site)}


def test_zoo_list_still_lists_every_working_model(env):
    proc = run_zoo("list", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert {"simplecnn", "resnet18", "efficientnet_b0", "vit_tiny_patch16_224", "tinynet_digits"} <= set(rows)
    assert rows["resnet18"]["architecture"] == "resnet"  # not taken over by the duplicates
    assert rows["tinynet_digits"]["frameworks"] == "torch,tf"


def test_zoo_plugins_names_each_failing_plugin_and_why(env):
    proc = run_zoo("plugins", env=env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "FAILED zoo_broken (zoo-broken): import failed: RuntimeError: this plugin is broken on purpose" in out
    assert ("FAILED zoo_dup (zoo-dup): register_architectures failed: architecture 'resnet' is already registered "
            "by plugin resnet (zoo); rename it in plugin zoo_dup (zoo-dup)") in out
    assert "FAILED zoo_dupmodel (zoo-dupmodel):" in out and "model 'resnet18' is already defined at" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line and not line.startswith("FAILED")}
    assert rows["zoo_tinynet"] == ["zoo_tinynet", "zoo-tinynet", "2.3.1", "tinynet", "torch,tf", "-", "ok"]
    assert rows["resnet"][-1] == "ok" and rows["zoo_broken"][-1] == "FAILED"


def test_zoo_plugins_json_carries_the_same(env):
    proc = run_zoo("plugins", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    infos = {p["name"]: p for p in json.loads(proc.stdout)}
    assert not infos["zoo_dup"]["ok"] and "already registered" in infos["zoo_dup"]["error"]
    assert infos["zoo_tinynet"]["ok"] and infos["zoo_tinynet"]["architectures"] == ["tinynet"]
    assert {n for n, p in infos.items() if not p["ok"]} == {"zoo_broken", "zoo_dup", "zoo_dupmodel"}
