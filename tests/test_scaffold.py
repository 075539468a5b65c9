"""`zoo plugin new NAME`: the skeleton's own test fails naming the builder and hook to write; filled in with a
small conv net, the same test passes. The skeleton is installed as pip installs it and tested in a fresh process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from tests.helpers import run_zoo
from tests.plugin_site import install_source

FILLED_TORCH = '''
"""The demo architecture in PyTorch: conv-BN-ReLU stem, a stride-2 conv-BN-ReLU body, a linear head."""

from torch import nn


class Demo(nn.Module):
    def __init__(self, num_classes, in_chans):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_chans, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean((2, 3)))


def build(spec):
    return Demo(spec.num_classes, spec.in_chans)
'''

FILLED_KERAS = '''
"""The demo architecture in Keras, weight layers named after the torch module paths."""

from zoo_core.backends.keras_layers import BatchNorm, conv2d, keras, max_pool

L = keras.layers


def build(spec):
    h, w = spec.input_size
    inputs = keras.Input((h, w, spec.in_chans))
    x = L.ReLU()(BatchNorm(name="stem.1")(conv2d(inputs, 8, 3, name="stem.0")))
    x = L.ReLU()(BatchNorm(name="body.1")(conv2d(x, 16, 3, 2, name="body.0")))
    x = L.GlobalAveragePooling2D()(max_pool(x, 2, 2, name="body.3"))
    return keras.Model(inputs, L.Dense(spec.num_classes, name="head")(x), name=spec.name)
'''


def _pytest(project: Path, site: Path) -> subprocess.CompletedProcess:
    """The generated package's tests, in a fresh process that sees the package only as installed in ``site``."""
    env = {**os.environ, "PYTHONPATH": str(site), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
                          capture_output=True, text=True, env=env, cwd=project, timeout=600)


@pytest.fixture(scope="module")
def skeleton(tmp_path_factory):
    root = tmp_path_factory.mktemp("new")
    proc = run_zoo("plugin", "new", "demo", "--dir", str(root))
    assert proc.returncode == 0, proc.stderr
    assert f"created {root / 'zoo-demo'}" in proc.stdout and "zoo_demo/torch_model.py" in proc.stdout
    return root / "zoo-demo"


def test_skeleton_is_a_complete_plugin_distribution(skeleton):
    assert sorted(str(p.relative_to(skeleton)) for p in skeleton.rglob("*") if p.is_file()) == [
        "README.md", "pyproject.toml", "tests/test_zoo_demo.py", "zoo_demo/__init__.py", "zoo_demo/keras_model.py",
        "zoo_demo/registry.yaml", "zoo_demo/torch_model.py"]
    meta = tomllib.loads((skeleton / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "zoo-demo" and meta["project"]["entry-points"]["zoo"] == {"demo": "zoo_demo"}
    assert "check_architecture(\"demo\"" in (skeleton / "tests" / "test_zoo_demo.py").read_text()


def test_unfilled_skeleton_fails_naming_the_builder_and_hook_to_write(skeleton, tmp_path):
    proc = _pytest(skeleton, install_source(skeleton, tmp_path / "site"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "1 failed" in out
    for fw, file in (("torch", "torch_model"), ("tf", "keras_model")):
        assert (f"build[{fw}]: the {fw} builder 'zoo_demo.{file}:build' of architecture 'demo' failed: "
                f"NotImplementedError: zoo_demo.{file}:build, the {fw} builder of architecture 'demo' (registered "
                "by the register_architectures hook in zoo_demo/__init__.py), is not written yet") in out, out[-3000:]
    assert "registered" not in [line.split(":")[0].strip("- ") for line in out.splitlines() if line.startswith("E   -")]


def test_filled_in_skeleton_passes_its_own_test(skeleton, tmp_path):
    filled = tmp_path / "zoo-demo"
    import shutil

    shutil.copytree(skeleton, filled)
    (filled / "zoo_demo" / "torch_model.py").write_text(FILLED_TORCH)
    (filled / "zoo_demo" / "keras_model.py").write_text(FILLED_KERAS)
    proc = _pytest(filled, install_source(filled, tmp_path / "site"))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "1 passed" in proc.stdout


def test_existing_directory_and_bad_names_are_clear_errors(skeleton):
    again = run_zoo("plugin", "new", "demo", "--dir", str(skeleton.parent))
    assert again.returncode == 1
    assert again.stderr.strip() == (f"zoo: error: {skeleton} already exists; choose another name or --dir, "
                                    "or remove it first")
    bad = run_zoo("plugin", "new", "My-Net", "--dir", str(skeleton.parent))
    assert bad.returncode == 1 and "plugin name 'My-Net' is not valid" in bad.stderr
    assert sorted(p.name for p in skeleton.parent.iterdir()) == ["zoo-demo"]  # nothing half-written


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)


@pytest.mark.parametrize("name", ["resnet", "simplecnn", "vit"])
def test_a_name_an_installed_plugin_or_architecture_has_is_refused(tmp_path, name):
    from zoo_core import ZooError
    from zoo_core.scaffold import new_plugin

    with pytest.raises(ZooError, match=rf"plugin name '{name}' is taken.*choose another name"):
        new_plugin(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cli_plugin_new_resnet_is_a_one_line_error(tmp_path):
    proc = run_zoo("plugin", "new", "resnet", "--dir", str(tmp_path))
    assert proc.returncode == 1 and "is taken" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []
