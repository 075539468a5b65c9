"""The catalogue: validation with file, line and reason; user files; duplicates; unavailable architectures."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import zoo_core as zoo
from zoo_core import catalog as registry
from zoo_core import plugins
from zoo_core.errors import ArchitectureUnavailableError, RegistryError

GOOD = """\
models:
  tiny_digits:
    architecture: simplecnn
    config: {widths: [8], hidden: 16}
    num_classes: 10
    in_chans: 1
    input_size: [8, 8]
    mean: [0.5]
    std: [0.5]
"""


def write(tmp_path: Path, text: str, name: str = "extra.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_plugins_ship_valid_complete_registry_files():
    own = [path for path, name in plugins.state().registry_files
           if name in ("simplecnn", "resnet", "efficientnet", "vit")]
    assert sorted(p.parent.name for p in own) == ["zoo_efficientnet", "zoo_resnet", "zoo_simplecnn", "zoo_vit"]
    names = {e.name for path in own for e in registry.load_file(path)}
    assert {"simplecnn", "resnet18", "resnet34", "resnet50", "efficientnet_b0", "vit_tiny_patch16_224",
            "vit_small_patch16_224"} <= names


def test_wrong_field_type_names_file_line_and_field(tmp_path):
    path = write(tmp_path, GOOD.replace("num_classes: 10", "num_classes: ten"))
    with pytest.raises(RegistryError) as err:
        registry.load_file(path)
    msg = str(err.value)
    assert f"{path}:5:" in msg and "'num_classes'" in msg and "tiny_digits" in msg


def test_missing_field_names_entry_line_and_field(tmp_path):
    path = write(tmp_path, GOOD.replace("    input_size: [8, 8]\n", ""))
    with pytest.raises(RegistryError, match=rf"{path}:2: model 'tiny_digits': missing required field 'input_size'"):
        registry.load_file(path)


def test_unknown_field_is_rejected_with_its_line(tmp_path):
    path = write(tmp_path, GOOD + "    colour: blue\n")
    with pytest.raises(RegistryError, match=rf"{path}:10: .*unknown field 'colour'"):
        registry.load_file(path)


def test_duplicate_key_in_one_file(tmp_path):
    path = write(tmp_path, GOOD + GOOD.split("\n", 1)[1])
    with pytest.raises(RegistryError, match=r"duplicate key 'tiny_digits' \(first defined on line 2\)"):
        registry.load_file(path)


def test_invalid_yaml_reports_line(tmp_path):
    path = write(tmp_path, "models:\n  a: [1, 2\n  b: 3\n")
    with pytest.raises(RegistryError, match=rf"{path}:\d+: not valid YAML"):
        registry.load_file(path)


def test_mean_and_std_lengths_must_agree(tmp_path):
    path = write(tmp_path, GOOD.replace("std: [0.5]", "std: [0.5, 0.5]"))
    with pytest.raises(RegistryError, match="mean and std must have the same length"):
        registry.load_file(path)


def test_user_file_through_environment_adds_a_loadable_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_REGISTRY", str(write(tmp_path, GOOD)))
    assert "tiny_digits" in zoo.list_models("tiny*")
    info = zoo.model_info("tiny_digits")
    assert info["source"].endswith("extra.yaml:2") and info["stages"][-1] == "head"


def test_user_file_cannot_silently_override_a_name(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD.replace("tiny_digits", "resnet18"))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    with pytest.raises(RegistryError, match=r"'resnet18' is already defined at .*registry.yaml"):
        zoo.list_models()


def test_entry_with_missing_architecture_names_the_plugin(tmp_path, monkeypatch):
    text = GOOD.replace("architecture: simplecnn", "architecture: mobilenetv9\n    plugin: zoo-mobilenetv9")
    monkeypatch.setenv("ZOO_REGISTRY", str(write(tmp_path, text)))
    assert "tiny_digits" not in zoo.list_models()
    assert "tiny_digits" in zoo.list_models(include_unavailable=True)
    with pytest.raises(ArchitectureUnavailableError, match="'mobilenetv9'.*install zoo-mobilenetv9"):
        zoo.load("tiny_digits", framework="torch")


def test_mean_and_std_of_a_length_neither_one_nor_in_chans_name_file_and_line(tmp_path):
    text = GOOD.replace("in_chans: 1", "in_chans: 3").replace("mean: [0.5]", "mean: [0.5, 0.5]").replace(
        "std: [0.5]", "std: [0.5, 0.5]")
    path = write(tmp_path, text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.strip().startswith("mean:"))
    with pytest.raises(RegistryError, match=rf"extra.yaml:{line}: model 'tiny_digits': field 'mean': has 2 values "
                       r"for 3 input channels; give 1 value or 3") as info:
        registry.load_file(path)
    assert "\n" not in str(info.value)


def test_one_mean_value_for_three_channels_is_accepted(tmp_path):
    path = write(tmp_path, GOOD.replace("in_chans: 1", "in_chans: 3"))
    assert registry.load_file(path)[0].mean == (0.5,)
