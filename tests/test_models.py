"""The model contract, over every registered model and framework (like timm's tests/test_models.py)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo_core as zoo
from zoo_core import backends
from zoo_core.errors import FrameworkNotInstalledError, UnknownFrameworkError, UnknownModelError

MODELS = zoo.list_models()
FRAMEWORKS = ["torch", "tf"]


def _batch(entry_size, chans, framework, n=2):
    h, w = entry_size
    x = np.random.default_rng(0).standard_normal((n, chans, h, w)).astype(np.float32)
    return x if framework == "torch" else x.transpose(0, 2, 3, 1)


def test_every_architecture_is_registered():
    assert {"simplecnn", "resnet", "efficientnet", "vit"} <= set(zoo.plugins.architectures())
    assert zoo.list_models("resnet*", framework="tf") == ["resnet18", "resnet34", "resnet50"]


@pytest.mark.parametrize("name", MODELS)
def test_builds_and_forwards_in_both_frameworks_with_equal_parameter_counts(name):
    entry = zoo.model_info(name)
    counts = {}
    for fw in FRAMEWORKS:
        model = zoo.load(name, framework=fw, num_classes=7)
        out = backends.get(fw).predict(model, _batch(entry["input_size"], entry["in_chans"], fw))
        assert out.shape == (2, 7)
        assert np.isfinite(out).all()
        counts[fw] = backends.get(fw).count_params(model)
        assert zoo.spec_of(model).entry.num_classes == 7
    assert counts["torch"] == counts["tf"] > 0


@pytest.mark.parametrize("framework", ["torch", "pytorch", "tf", "tensorflow", "keras"])
def test_framework_aliases_return_plain_framework_models(framework):
    model = zoo.load("simplecnn", framework=framework)
    if backends.framework_of(model) == "torch":
        import torch

        assert isinstance(model, torch.nn.Module) and framework in ("torch", "pytorch")
    else:
        import keras

        assert isinstance(model, keras.Model) and framework in ("tf", "tensorflow", "keras")


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_in_chans_and_input_size_are_honoured(framework):
    model = zoo.load("resnet18", framework=framework, num_classes=4, in_chans=1, input_size=48)
    out = backends.get(framework).predict(model, _batch((48, 48), 1, framework))
    assert out.shape == (2, 4)


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError, match=r"unknown model 'resnet19'; did you mean resnet18"):
        zoo.load("resnet19", framework="torch")


def test_unknown_framework_lists_valid_ones():
    with pytest.raises(UnknownFrameworkError, match=r"unknown framework 'jax'; valid names are: keras, pt, pytorch"):
        zoo.load("resnet18", framework="jax")


def test_missing_framework_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "tensorflow" else real(n, *a))
    with pytest.raises(FrameworkNotInstalledError, match=r"pip install 'zoo\[tf\]'"):
        zoo.load("simplecnn", framework="tf")


def test_model_info_counts_parameters_per_framework():
    info = zoo.model_info("simplecnn", params=True)
    assert info["params"]["torch"] == info["params"]["tf"] == 421_738
    assert info["stages"] == ["stage1", "stage2", "stage3", "head"]


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)


@pytest.mark.parametrize("kwargs", [{"num_classes": 2.5}, {"num_classes": True}, {"num_classes": "ten"},
                                    {"in_chans": 1.5}, {"in_chans": False}, {"input_size": 28.5},
                                    {"input_size": (True, 28)}, {"input_size": "28"}])
def test_non_integer_sizes_are_an_error_not_truncated(kwargs):
    with pytest.raises(zoo.ZooError) as info:
        zoo.load("simplecnn", framework="torch", **kwargs)
    msg = str(info.value)
    assert "\n" not in msg and next(iter(kwargs)) in msg and "whole number" in msg


def test_integral_floats_are_still_accepted():
    assert zoo.spec_of(zoo.load("simplecnn", framework="torch", num_classes=3.0)).entry.num_classes == 3


def test_misspelled_keyword_is_an_error_suggesting_the_right_name():
    with pytest.raises(zoo.ZooError, match=r"unknown keyword 'num_clases'.*did you mean num_classes"):
        zoo.load("simplecnn", framework="torch", num_clases=3)
    with pytest.raises(zoo.ZooError, match=r"unknown keyword 'hiden'.*did you mean hidden"):
        zoo.load("simplecnn", framework="tf", hiden=8)
    # a builder that checks its config keys itself (efficientnet) fails first: the misspelling is still named
    with pytest.raises(zoo.ZooError, match=r"unknown config keys \['num_clases'\].*num_clases \(did you mean "
                                           r"num_classes\?\)"):
        zoo.load("efficientnet_b0", framework="torch", num_clases=3)


def test_config_keys_the_builder_reads_are_accepted_even_when_not_in_the_entry():
    model = zoo.load("simplecnn", framework="torch", dropout=0.5, hidden=16)  # dropout is not in the entry's config
    assert zoo.spec_of(model).entry.config["dropout"] == 0.5


@pytest.mark.parametrize("name", [None, 3, ["simplecnn"], ""])
def test_load_of_something_that_is_not_a_name_is_a_zoo_error(name):
    with pytest.raises(zoo.ZooError, match=r"zoo.load\(\) takes a model name, a checkpoint directory or a hf://"):
        zoo.load(name, framework="torch")
    with pytest.raises(zoo.ZooError, match=r"zoo.model_info\(\) takes a model name"):
        zoo.model_info(name)


def test_misspelled_keyword_for_a_checkpoint_is_an_error_suggesting_the_right_name(tmp_path):
    path = zoo.save(zoo.load("simplecnn", framework="torch"), tmp_path / "cnn")
    with pytest.raises(zoo.ZooError, match=r"did you mean num_classes\?"):
        zoo.load(str(path), framework="torch", num_clases=3)


def test_builder_failure_names_the_entry_its_source_and_config(tmp_path, monkeypatch):
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  bad_cnn:\n    architecture: simplecnn\n    config: {widths: 5}\n    num_classes: 10\n"
                    "    in_chans: 1\n    input_size: [28, 28]\n    mean: [0.5]\n    std: [0.5]\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    for fw in FRAMEWORKS:
        with pytest.raises(zoo.ZooError) as info:
            zoo.load("bad_cnn", framework=fw)
        msg = str(info.value)
        assert "\n" not in msg and "'bad_cnn'" in msg and "bad.yaml:2" in msg and "{'widths': 5}" in msg
