"""zoo_core.testing.check_architecture, the plugin-author contract kit: it passes a sound plugin, and each broken
plugin fails the one check that catches it, with a message naming the hook or builder to fix."""

from __future__ import annotations

import importlib

import pytest

import zoo_core as zoo
from tests.helpers import write_distribution
from zoo_core import plugins
from zoo_core.testing import ContractError, check_architecture, check_stage_patterns

FAULTY_TORCH = '''
from torch import nn


class Net(nn.Module):
    def __init__(self, spec, classes=None):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(spec.in_chans, 8, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, classes or spec.num_classes)

    def forward(self, x):
        return self.head(self.stem(x).mean((2, 3)))


def build(spec):
    return Net(spec)


def build_ten_classes(spec):
    return Net(spec, classes=10)
'''

FAULTY_KERAS = '''
from zoo_core.backends.keras_layers import BatchNorm, conv2d, keras

L = keras.layers


def _net(spec, width=8, stem="stem.0", same_padding=False):
    h, w = spec.input_size
    inputs = keras.Input((h, w, spec.in_chans))
    if same_padding:  # TF's "same" pads a stride-2 conv asymmetrically, torch's padding=1 symmetrically
        x = L.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name=stem)(inputs)
    else:
        x = conv2d(inputs, width, 3, 2, name=stem)
    x = L.ReLU()(BatchNorm(name="stem.1")(x))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, L.Dense(spec.num_classes, name="head")(x))


def build(spec):
    return _net(spec)


def build_misnamed(spec):
    return _net(spec, stem="conv")


def build_wider(spec):
    return _net(spec, width=12)


def build_same_padding(spec):
    return _net(spec, same_padding=True)
'''

# architecture -> (torch builder, tf builder or None, stage patterns of "stem")
FAULTS = {
    "faulty_good": ("build", "build", ("stem.*",)),
    "faulty_names": ("build", "build_misnamed", ("stem.*",)),
    "faulty_params": ("build", "build_wider", ("stem.*",)),
    "faulty_classes": ("build_ten_classes", "build", ("stem.*",)),
    "faulty_numerics": ("build", "build_same_padding", ("stem.*",)),
    "faulty_stages": ("build", "build", ("stem.0.*",)),
    "faulty_missing": ("no_such_builder", "build", ("stem.*",)),
    "faulty_torch_only": ("build", None, ("stem.*",)),
}

FAULTY_PLUGIN = f'''
import zoo_core
from pathlib import Path

FAULTS = {FAULTS!r}


@zoo_core.hookimpl
def register_architectures(register):
    for name, (torch_fn, tf_fn, stem) in FAULTS.items():
        builders = {{"torch": "zoo_faulty_torch:" + torch_fn}}
        if tf_fn:
            builders["tf"] = "zoo_faulty_keras:" + tf_fn
        register(zoo_core.Architecture(name=name, builders=builders, stages=("stem", "head"),
                                       stage_patterns={{"stem": stem, "head": ("head.*",)}}))


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("faulty_registry.yaml")]
'''

REGISTRY = "models:\n" + "".join(
    f"  {name}:\n    architecture: {name}\n    num_classes: 3\n    in_chans: 1\n    input_size: [8, 8]\n"
    "    mean: [0.5]\n    std: [0.5]\n" for name in FAULTS)

HEAVY_REGISTRY = REGISTRY.split("  faulty_names")[0].replace("faulty_good", "heavy")
HEAVY_PLUGIN = '''
import torch  # a plugin module must not do this: every `zoo list` would pay for it
import zoo_core
from pathlib import Path


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("heavy_registry.yaml")]


@zoo_core.hookimpl
def register_architectures(register):
    register(zoo_core.Architecture(name="heavy", builders={"torch": "zoo_simplecnn.torch_model:build"},
                                   stages=("head",), stage_patterns={"head": ("*",)}))
'''

FAST = ("registered", "build", "output_shape", "param_parity", "canonical_names", "stages")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("site")
    write_distribution(path, "zoo-faulty", "zoo_faulty", FAULTY_PLUGIN,
                       files={"zoo_faulty_torch.py": FAULTY_TORCH, "zoo_faulty_keras.py": FAULTY_KERAS,
                              "faulty_registry.yaml": REGISTRY})
    write_distribution(path, "zoo-heavy", "zoo_heavy", HEAVY_PLUGIN,
                       files={"heavy_registry.yaml": HEAVY_REGISTRY})
    return path


@pytest.fixture(autouse=True)
def installed(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    plugins.reset()


def failed(report) -> dict[str, str]:
    return {r.check: r.detail for r in report.failures}


def test_a_sound_plugin_passes_every_check():
    report = check_architecture("faulty_good")
    assert report.ok and report.frameworks == ("torch", "tf")
    assert [r.check for r in report.results] == [
        "registered", "plugin_import", "build[torch]", "build[tf]", "output_shape[torch]", "output_shape[tf]",
        "param_parity", "canonical_names", "save_load[torch]", "save_load[tf]", "logits_parity[torch->tf]",
        "logits_parity[tf->torch]", "converter_parity", "stages[torch]", "stages[tf]"]
    assert report.result("converter_parity").detail.startswith("hand-written and converted Keras models agree")
    assert report.result("param_parity").detail == "133 in both"
    detail = report.result("plugin_import").detail
    assert detail == "plugin zoo_faulty (zoo-faulty): importing zoo_faulty imports no framework"


def test_keras_layer_not_named_after_the_torch_module():
    report = check_architecture("faulty_names", checks=FAST, raise_on_failure=False)
    msg = failed(report)["canonical_names"]
    assert "only in torch ['stem.0.weight'], only in tf ['conv.weight']" in msg
    assert "'zoo_faulty_keras:build_misnamed'" in msg and "name every Keras layer" in msg


def test_builders_that_disagree_on_the_network():
    report = check_architecture("faulty_params", checks=FAST, raise_on_failure=False)
    assert set(failed(report)) == {"param_parity", "canonical_names"}
    assert "the torch builder has 133 learnable parameters, the tf builder 197" in failed(report)["param_parity"]


def test_builder_that_ignores_num_classes():
    report = check_architecture("faulty_classes", checks=FAST, raise_on_failure=False)
    msg = failed(report)["output_shape[torch]"]
    assert "the torch builder 'zoo_faulty_torch:build_ten_classes'" in msg and "expected (2, 5)" in msg
    assert "spec.num_classes" in msg


def test_keras_numerics_that_differ_from_torch():
    report = check_architecture("faulty_numerics", checks=("registered", "build", "logits_parity"),
                                raise_on_failure=False)
    assert set(failed(report)) == {"logits_parity[torch->tf]", "logits_parity[tf->torch]"}
    assert "keras_layers" in failed(report)["logits_parity[torch->tf]"]


def test_stage_patterns_that_miss_a_tensor():
    with pytest.raises(ContractError, match=r"stages\[torch\]: torch: tensor 'stem.1.weight' belongs to no stage.*"
                                            r"stage_patterns=.*register_architectures hook"):
        check_architecture("faulty_stages", checks=FAST)


def test_builder_that_cannot_be_imported():
    report = check_architecture("faulty_missing", checks=FAST, raise_on_failure=False)
    assert set(failed(report)) == {"build[torch]"}
    assert "the torch builder 'zoo_faulty_torch:no_such_builder' of architecture 'faulty_missing' failed: " \
           "AttributeError" in failed(report)["build[torch]"]


def test_torch_only_plugin_gets_the_converter_as_its_tf_builder():
    """A torch builder alone: the Keras model is converted from it and passes the contract like a hand-written one."""
    report = check_architecture("faulty_torch_only")
    assert report.ok and report.frameworks == ("torch", "tf")
    assert report.result("build[tf]").detail.endswith("(converted from the torch builder)")
    assert report.result("converter_parity").status == "skipped"
    assert report.result("logits_parity[torch->tf]").status == "ok"
    assert "faulty_torch_only" in zoo.list_models("faulty_*", framework="tf")


def test_hand_written_builder_that_disagrees_with_the_converter():
    """The converter is the reference a hand-written Keras builder is checked against."""
    report = check_architecture("faulty_numerics", checks=("registered", "build", "converter_parity"),
                                raise_on_failure=False)
    msg = failed(report)["converter_parity"]
    assert "'zoo_faulty_keras:build_same_padding'" in msg and "give other logits for the same weights" in msg


def test_plugin_module_that_imports_a_framework():
    report = check_architecture("heavy", checks=("registered", "plugin_import"), raise_on_failure=False)
    msg = failed(report)["plugin_import"]
    assert "importing plugin module 'zoo_heavy' imported torch" in msg and "inside the builders" in msg


def test_unregistered_architecture_names_the_hook():
    with pytest.raises(ContractError, match=r"architecture 'nonet' is not registered: implement the "
                                            r"register_architectures\(register\) hook"):
        check_architecture("nonet")


def test_architecture_without_a_model_names_the_registry_hook():
    import types

    module = types.ModuleType("lonely_plugin")
    exec(HEAVY_PLUGIN.replace("import torch  #", "#").replace("heavy", "lonely").replace("registry_files", "_no"),
         module.__dict__)
    plugins.register_plugin(module, "lonely")
    try:
        with pytest.raises(ContractError, match=r"no model in the registry: return a YAML file .* registry_files"):
            check_architecture("lonely")
    finally:
        plugins.unregister_plugin("lonely")


def test_the_raised_error_lists_every_failure():
    with pytest.raises(ContractError) as err:
        check_architecture("faulty_params", checks=FAST)
    lines = str(err.value).splitlines()
    assert lines[0] == "faulty_params: 2 contract check(s) failed:"
    assert [line.split(":")[0] for line in lines[1:]] == ["- param_parity", "- canonical_names"]


def test_older_helpers_still_work():
    check_stage_patterns("faulty_good")
    with pytest.raises(AssertionError, match="belongs to 0 stages"):
        check_stage_patterns("faulty_stages")
    assert zoo.list_models("faulty_*", framework="tf")[:2] == ["faulty_classes", "faulty_good"]


def test_a_framework_that_is_not_installed_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a))
    report = check_architecture("faulty_good", frameworks=["torch", "tf"], checks=("registered", "build"),
                                raise_on_failure=False)
    assert set(failed(report)) == {"build[tf]"} and "pip install 'zoo[tf]'" in failed(report)["build[tf]"]
    assert check_architecture("faulty_good", checks=("registered", "build")).frameworks == ("torch",)
