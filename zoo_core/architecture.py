"""What a plugin registers: an architecture with a builder per framework and its stages."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from .frameworks import canonical_framework

# A callable, or a lazy "package.module:attribute" reference resolved only when the model is built.
Target = Union[str, Callable[..., Any]]  # noqa: UP007 (a runtime alias, Python 3.10 compatible)


def resolve(target: Target) -> Any:
    """Return the object a ``"module:attr"`` string names (or the object itself)."""
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class BuildSpec:
    """Everything a builder needs to build one model."""

    name: str
    architecture: str
    config: Mapping[str, Any]
    num_classes: int
    in_chans: int
    input_size: tuple[int, int]

    @classmethod
    def from_entry(cls, entry: Any) -> BuildSpec:
        """The spec of a registry entry (``zoo_core.registry.ModelEntry``)."""
        return cls(entry.name, entry.architecture, dict(entry.config), entry.num_classes, entry.in_chans,
                   tuple(entry.input_size))


# The tf builder of an architecture that registers a torch builder only: the PyTorch-to-Keras converter, reached by
# name when a Keras model is built (like a dispatch table; nothing here imports it).
CONVERTER = "zoo_core.torch2keras.builders:build_converted"


@dataclass(frozen=True)
class Architecture:
    """An image-classification architecture a plugin provides.

    - ``builders``: framework ("torch" or "tf") -> callable(BuildSpec) returning a plain torch.nn.Module or
      keras.Model. Use ``"module:function"`` strings so that frameworks are imported only when a model is built.
    - ``stages``: ordered stage names, input to output; the last one is the head (never frozen by ``until``).
    - ``stage_patterns``: stage -> fnmatch patterns of the canonical parameter names that belong to it.
    - A torch builder alone is enough: the tf builder is then the converter (``CONVERTER``: torch.export ->
      Keras, parity checked at each build); a hand-written tf builder overrides it.
    - ``timm``: optional callable(BuildSpec) -> ``{"architecture": timm name, "model_args": {...}}`` (or None) when
      the torch model is a timm model, so checkpoints carry the keys ``timm.create_model("local-dir:...")`` reads.
    """

    name: str
    builders: Mapping[str, Target]
    stages: tuple[str, ...]
    stage_patterns: Mapping[str, tuple[str, ...]]
    description: str = ""
    timm: Target | None = None

    def __post_init__(self) -> None:
        builders = {canonical_framework(k): v for k, v in self.builders.items()}
        if "torch" in builders and "tf" not in builders:
            builders["tf"] = CONVERTER
        object.__setattr__(self, "builders", builders)
        object.__setattr__(self, "stages", tuple(self.stages))
        patterns = {k: tuple(v) for k, v in self.stage_patterns.items()}
        object.__setattr__(self, "stage_patterns", patterns)
        unknown = set(patterns) - set(self.stages)
        if unknown:
            raise ValueError(f"architecture {self.name!r}: stage_patterns name unknown stages {sorted(unknown)}")
        if not self.stages:
            raise ValueError(f"architecture {self.name!r}: declare at least one stage (the head)")

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(fw for fw in ("torch", "tf") if fw in self.builders)

    @property
    def converted(self) -> bool:
        """True when the Keras model is generated from the torch one (no hand-written tf builder)."""
        return self.builders.get("tf") == CONVERTER

    @property
    def head(self) -> str:
        return self.stages[-1]

    def timm_config(self, entry: Any) -> dict[str, Any] | None:
        """timm's name and model_args for a registry entry built with this architecture, if it is a timm model."""
        return resolve(self.timm)(BuildSpec.from_entry(entry)) if self.timm else None

    def builder(self, framework: str) -> Callable[[BuildSpec], Any]:
        return resolve(self.builders[canonical_framework(framework)])
