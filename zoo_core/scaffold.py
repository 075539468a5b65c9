"""``zoo plugin new NAME``: write the skeleton of a third-party plugin package (no cookiecutter).

The skeleton is a complete distribution: a pyproject.toml declaring the ``zoo`` entry point, a plugin module whose
hooks register the architecture and its registry file, one builder per framework that raises until it is written,
and a test that runs the plugin contract (``zoo_core.testing.check_architecture``). Its test fails naming the
builder to write; once both builders are written it passes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import plugins
from .errors import ZooError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin name gives: ``demo`` -> distribution zoo-demo, module zoo_demo, architecture demo."""

    name: str

    @property
    def distribution(self) -> str:
        return "zoo-" + self.name.replace("_", "-")

    @property
    def module(self) -> str:
        return "zoo_" + self.name

    @property
    def architecture(self) -> str:
        return self.name


def check_name(name: str) -> PluginNames:
    if not _NAME.match(name or ""):
        raise ZooError(f"plugin name {name!r} is not valid: use lowercase letters, digits and underscores, starting "
                       "with a letter (e.g. 'mynet'); it becomes the architecture name and the module zoo_<name>")
    return PluginNames(name)


def _not_implemented(n: PluginNames, fw: str, returns: str, file: str) -> str:
    return (
        f'    raise NotImplementedError(\n'
        f'        "{n.module}.{file}:build, the {fw} builder of architecture {n.architecture!r} (registered by the "\n'
        f'        "register_architectures hook in {n.module}/__init__.py), is not written yet: return a {returns} "\n'
        f'        "built from spec.num_classes, spec.in_chans, spec.input_size and spec.config"\n'
        f'    )\n'
    )


def files(n: PluginNames) -> dict[str, str]:
    """Relative path -> text of every file of the skeleton."""
    m, a = n.module, n.architecture
    return {
        "pyproject.toml": f'''\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "{n.distribution}"
version = "0.1.0"
description = "The {a} architecture for the zoo model zoo, in PyTorch and TensorFlow/Keras."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["zoo>=0.1"]

# How zoo finds this plugin: an entry point in the "zoo" group naming the plugin module.
[project.entry-points.zoo]
{a} = "{m}"

[tool.hatch.build.targets.wheel]
packages = ["{m}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
''',
        "README.md": f'''\
# {n.distribution}

The `{a}` architecture for zoo, in PyTorch and TensorFlow/Keras.

1. Write the builders: `{m}/torch_model.py` (a `torch.nn.Module`, NCHW) and `{m}/keras_model.py` (a `keras.Model`,
   NHWC, every weight layer named after the torch module path it mirrors, e.g. `stem.0`).
2. Name the stages in `{m}/__init__.py` (`STAGES`, `STAGE_PATTERNS`: fnmatch patterns over the torch `state_dict`
   names; every tensor in exactly one stage, the last stage is the head).
3. Describe the named models in `{m}/registry.yaml`.
4. `pip install -e .` (into the environment that has zoo), then `pytest`: the test runs zoo's plugin contract.

See zoo's docs/writing-a-plugin.md.
''',
        f"{m}/__init__.py": f'''\
"""{n.distribution}: the {a} architecture for zoo.

zoo finds this module through the "zoo" entry point in pyproject.toml. Importing it must not import torch or
TensorFlow: the builders are named as "module:function" strings and imported only when a model is built.
"""

from __future__ import annotations

from pathlib import Path

import zoo_core

# Stages, input to output (the last one is the head), and the torch state_dict names each one owns.
STAGES = ("stem", "body", "head")
STAGE_PATTERNS = {{"stem": ("stem.*",), "body": ("body.*",), "head": ("head.*",)}}


@zoo_core.hookimpl
def register_architectures(register):
    register(
        zoo_core.Architecture(
            name="{a}",
            builders={{"torch": "{m}.torch_model:build", "tf": "{m}.keras_model:build"}},
            stages=STAGES,
            stage_patterns=STAGE_PATTERNS,
            description="{a}",
        )
    )


@zoo_core.hookimpl
def registry_files():
    return [Path(__file__).with_name("registry.yaml")]
''',
        f"{m}/torch_model.py": f'''\
"""The {a} architecture in PyTorch. Its state_dict names and layouts are the canonical weights."""

from __future__ import annotations

from zoo_core import BuildSpec


def build(spec: BuildSpec):
    """A torch.nn.Module taking NCHW images (spec.in_chans x spec.input_size) and returning spec.num_classes logits."""
{_not_implemented(n, "torch", "torch.nn.Module", "torch_model")}''',
        f"{m}/keras_model.py": f'''\
"""The {a} architecture in Keras 3: the same network, every weight layer named after the torch module path.

Use zoo_core.backends.keras_layers (conv2d, depthwise_conv2d, max_pool, BatchNorm, nchw_flatten) for torch numerics.
"""

from __future__ import annotations

from zoo_core import BuildSpec


def build(spec: BuildSpec):
    """A keras.Model taking NHWC images and returning spec.num_classes logits, with the torch model's weights."""
{_not_implemented(n, "tf", "keras.Model", "keras_model")}''',
        f"{m}/registry.yaml": f'''\
# The named models of {n.distribution} (schema: zoo's docs/registry.md).
models:
  {a}:
    architecture: {a}
    description: {a} for 32x32 colour images
    config: {{}}
    num_classes: 10
    in_chans: 3
    input_size: [32, 32]
    mean: [0.5, 0.5, 0.5]
    std: [0.5, 0.5, 0.5]
    license: apache-2.0
    plugin: {n.distribution}
''',
        f"tests/test_{m}.py": f'''\
"""zoo's plugin contract for the {a} architecture (zoo_core.testing.check_architecture)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")  # torch before TensorFlow in one process

from zoo_core.testing import check_architecture  # noqa: E402


def test_{a}_meets_the_zoo_plugin_contract():
    # builds in both frameworks, output shape, parameter and weight-name parity, save/load, logits parity through a
    # checkpoint, stages and freeze, and that importing {m} imports no framework
    check_architecture("{a}", input_size=32)
''',
    }


def check_free(names: PluginNames) -> None:
    """Refuse a name an installed plugin, architecture, distribution or module already has: the new plugin would
    fail to load (names are never overridden) or shadow the other one."""
    st = plugins.state()
    taken = []
    if names.architecture in st.architectures:
        taken.append(f"architecture {names.architecture!r} of plugin {st.provider.get(names.architecture)}")
    taken += [f"installed plugin {point} ({dist})" for point, dist in plugins.installed()
              if point == names.name or dist == names.distribution]
    try:
        if importlib.util.find_spec(names.module) is not None:
            taken.append(f"importable module {names.module}")
    except (ImportError, ValueError):
        pass
    if taken:
        raise ZooError(f"plugin name {names.name!r} is taken ({'; '.join(dict.fromkeys(taken))}); choose another "
                       "name, e.g. " + repr(f"{names.name}_v2"))


def new_plugin(name: str, directory: str | os.PathLike = ".") -> Path:
    """Write the skeleton of plugin ``name`` into ``directory/zoo-<name>``; atomic (all files or none). A name an
    installed plugin or architecture already has is refused."""
    names = check_name(name)
    check_free(names)
    parent = Path(directory)
    target = parent / names.distribution
    if target.exists():
        raise ZooError(f"{target} already exists; choose another name or --dir, or remove it first")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        for rel, text in files(names).items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
