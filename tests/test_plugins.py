"""Plugin loading through real entry points: isolation of broken plugins, duplicates, the allowlist."""

from __future__ import annotations

import importlib

import pytest

import zoo_core as zoo
from tests.helpers import run_zoo, write_distribution
from zoo_core import plugins

GOOD_PLUGIN = '''
import zoo_core
from pathlib import Path

@zoo_core.hookimpl
def register_architectures(register):
    register(zoo_core.Architecture(
        name="tinynet",
        builders={"torch": "zoo_simplecnn.torch_model:build", "tf": "zoo_simplecnn.keras_model:build"},
        stages=("stage1", "head"),
        stage_patterns={"stage1": ("blocks.*",), "head": ("fc1.*", "fc2.*")},
    ))

@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("tinynet_registry.yaml")]
'''

TINY_REGISTRY = """
models:
  tinynet_digits:
    architecture: tinynet
    config: {widths: [8], hidden: 16}
    num_classes: 10
    in_chans: 1
    input_size: [8, 8]
    mean: [0.5]
    std: [0.5]
"""

BROKEN_PLUGIN = "raise RuntimeError('this plugin is broken on purpose')\n"

DUPLICATE_ARCH_PLUGIN = '''
import zoo_core

@zoo_core.hookimpl
def register_architectures(register):
    register(zoo_core.Architecture(name="resnet", builders={"torch": "x:y"}, stages=("head",),
                                   stage_patterns={"head": ("*",)}))
'''

DUPLICATE_MODEL_PLUGIN = '''
import zoo_core
from pathlib import Path

@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("dup_registry.yaml")]
'''


@pytest.fixture
def site(tmp_path, monkeypatch):
    path = tmp_path / "site"
    path.mkdir()
    monkeypatch.syspath_prepend(str(path))
    yield path
    importlib.invalidate_caches()


def _use(site):
    importlib.invalidate_caches()
    plugins.reset()


def test_third_party_plugin_registers_architecture_and_models(site):
    write_distribution(site, "zoo-tinynet", "zoo_tinynet", GOOD_PLUGIN,
                       files={"tinynet_registry.yaml": TINY_REGISTRY})
    _use(site)
    info = {p.name: p for p in zoo.list_plugins()}["zoo_tinynet"]
    assert info.ok and info.distribution == "zoo-tinynet" and info.version == "1.0"
    assert info.architectures == ["tinynet"] and info.frameworks == ["torch", "tf"]
    assert zoo.list_models("tinynet*") == ["tinynet_digits"]
    model = zoo.load("tinynet_digits", framework="torch")
    assert sum(p.numel() for p in model.parameters()) > 0


def test_broken_plugin_is_reported_and_the_zoo_still_works(site, caplog):
    write_distribution(site, "zoo-broken", "zoo_broken", BROKEN_PLUGIN)
    _use(site)
    with caplog.at_level("WARNING", logger="zoo.plugins"):
        infos = {p.name: p for p in zoo.list_plugins()}
        zoo.list_plugins()  # a second look does not report it again
    broken = infos["zoo_broken"]
    assert not broken.ok and "this plugin is broken on purpose" in broken.error
    assert sum("zoo-broken" in r.message for r in caplog.records) == 1
    assert "resnet18" in zoo.list_models() and infos["resnet"].ok


def test_duplicate_architecture_fails_that_plugin_naming_both(site):
    write_distribution(site, "zoo-dup", "zoo_dup", DUPLICATE_ARCH_PLUGIN)
    _use(site)
    dup = {p.name: p for p in zoo.list_plugins()}["zoo_dup"]
    assert not dup.ok
    assert "'resnet' is already registered by plugin resnet (zoo)" in dup.error and "zoo_dup (zoo-dup)" in dup.error
    assert plugins.state().provider["resnet"] == "resnet"
    assert "resnet18" in zoo.list_models()


def test_duplicate_model_name_from_a_plugin_is_an_error_not_an_override(site):
    write_distribution(site, "zoo-dupmodel", "zoo_dupmodel", DUPLICATE_MODEL_PLUGIN,
                       files={"dup_registry.yaml": TINY_REGISTRY.replace("tinynet_digits", "resnet18")
                              .replace("tinynet", "simplecnn")})
    _use(site)
    assert zoo.model_info("resnet18")["architecture"] == "resnet"
    dup = {p.name: p for p in zoo.list_plugins()}["zoo_dupmodel"]
    assert not dup.ok and "'resnet18' is already defined at" in dup.error and "registry.yaml" in dup.error


def test_allowlist_loads_only_named_plugins(site, monkeypatch):
    write_distribution(site, "zoo-tinynet", "zoo_tinynet", GOOD_PLUGIN,
                       files={"tinynet_registry.yaml": TINY_REGISTRY})
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "simplecnn,zoo-tinynet")
    _use(site)
    assert sorted(p.name for p in zoo.list_plugins()) == ["simplecnn", "zoo_tinynet"]
    assert zoo.list_models() == ["simplecnn", "simplecnn_cifar", "tinynet_digits"]
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    plugins.reset()
    assert zoo.list_plugins() == [] and zoo.list_models() == []


def test_plugin_registered_in_process():
    import types

    module = types.ModuleType("inline_plugin")
    exec(GOOD_PLUGIN.replace("registry_files", "_unused"), module.__dict__)
    plugins.register_plugin(module, "inline")
    try:
        assert "tinynet" in plugins.architectures()
    finally:
        plugins.unregister_plugin("inline")
    assert "tinynet" not in plugins.architectures()


def test_cli_with_broken_plugin_lists_models_and_names_the_failure(tmp_path):
    site = write_distribution(tmp_path / "site", "zoo-broken", "zoo_broken", BROKEN_PLUGIN)
    env = {"PYTHONPATH": str(site)}
    listed = run_zoo("list", env=env)
    assert listed.returncode == 0 and "resnet18" in listed.stdout
    shown = run_zoo("plugins", env=env)
    assert shown.returncode == 0
    expected = "FAILED zoo_broken (zoo-broken): import failed: RuntimeError: this plugin is broken on purpose"
    assert expected in shown.stdout


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)


def test_allowlist_naming_no_installed_plugin_warns_once_with_the_installed_names(monkeypatch, caplog):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "simplecnnn,resnet")
    with caplog.at_level("WARNING", logger="zoo.plugins"):
        assert [p.name for p in zoo.list_plugins()] == ["resnet"]
        zoo.list_models()
    warnings = [r.getMessage() for r in caplog.records if "ZOO_LOAD_PLUGINS" in r.getMessage()]
    assert len(warnings) == 1, warnings
    named, installed = warnings[0].split("the installed plugins are:")
    assert "'simplecnnn'" in named and "resnet" not in named and "simplecnn (zoo)" in installed


def test_a_model_whose_plugin_the_allowlist_excludes_says_so(monkeypatch, tmp_path):
    ckpt = zoo.save(zoo.load("simplecnn", "torch"), tmp_path / "cnn")
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "resnet")
    plugins.reset()
    with pytest.raises(zoo.ZooError, match=r"ZOO_LOAD_PLUGINS=resnet.*simplecnn") as info:
        zoo.load(str(ckpt), "torch")
    assert "install" not in str(info.value)
    with pytest.raises(zoo.ZooError, match=r"unknown model 'simplecnn'; ZOO_LOAD_PLUGINS=resnet.*simplecnn"):
        zoo.load("simplecnn", "torch")
