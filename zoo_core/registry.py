"""The catalogue of named models: ``registry.yaml``, files contributed by plugins, and user files.

Sources, in order: the built-in ``registry.yaml``, files returned by plugins' ``registry_files`` hook, then the
files named in ``ZOO_REGISTRY`` (``os.pathsep``-separated). Every entry is validated; an invalid entry fails
with its file, line and reason. A name defined twice is an error naming both places, never an override.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import RegistryError

USER_REGISTRY_ENV = "ZOO_REGISTRY"


class WeightsSpec(BaseModel):
    """Where an entry's weights live on the Hub (a repo in the zoo checkpoint layout)."""

    model_config = ConfigDict(extra="forbid")
    repo: str
    revision: str = "main"
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ModelEntry(BaseModel):
    """One named model of the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    architecture: str
    description: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    num_classes: int = Field(gt=0)
    in_chans: int = Field(default=3, gt=0)
    input_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: Literal["nearest", "bilinear", "bicubic"] = "bilinear"
    crop_pct: float = Field(default=1.0, gt=0, le=1)
    crop_mode: Literal["center", "squash"] = "center"
    license: str = "apache-2.0"
    plugin: str | None = None
    aliases: tuple[str, ...] = ()
    weights: WeightsSpec | None = None
    source: str = ""  # "file:line", filled in by the loader

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if min(v) <= 0:
            raise ValueError("input_size must be two positive integers [height, width]")
        return v

    @field_validator("std")
    @classmethod
    def _positive_std(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(s <= 0 for s in v):
            raise ValueError("std values must be positive")
        return v

    def model_post_init(self, __context: Any) -> None:
        if len(self.mean) != len(self.std):
            raise ValueError("mean and std must have the same length")


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that rejects duplicate keys and keeps each node's line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise RegistryError(
                f"{loader.name}:{line}: duplicate key {key!r} (first defined on line {seen[key]}); "
                "each name may appear once"
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _line_of(node: yaml.Node, loc: Iterable[Any]) -> int:
    """The line of the deepest node on the path ``loc`` inside ``node``."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(part)), None)
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
    return node.start_mark.line + 1


def load_file(path: str | Path) -> list[ModelEntry]:
    """Read and validate one registry file; raise RegistryError with file, line and reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read registry file: {exc.strerror or exc}") from None
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise RegistryError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise RegistryError(f"{path}:1: a registry file is a mapping with a 'models:' mapping of name -> entry")
    models_node = next(v for k, v in root.value if k.value == "models")
    entries = []
    for name, raw in data["models"].items():
        key_node, entry_node = next((k, v) for k, v in models_node.value if k.value == str(name))
        line = key_node.start_mark.line + 1
        if not isinstance(raw, dict):
            raise RegistryError(f"{path}:{line}: model {name!r}: an entry is a mapping of fields")
        try:
            entries.append(ModelEntry(name=str(name), source=f"{path}:{line}", **raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = [p for p in err["loc"]]
            field = ".".join(str(p) for p in loc) or "entry"
            if err["type"] == "missing":
                at, reason = line, f"missing required field {field!r}"
            elif err["type"] == "extra_forbidden":
                at, reason = _line_of(entry_node, loc), f"unknown field {field!r}"
            else:
                at, reason = _line_of(entry_node, loc), f"field {field!r}: {err['msg']}"
            raise RegistryError(f"{path}:{at}: model {name!r}: {reason}") from None
        except TypeError as exc:
            raise RegistryError(f"{path}:{line}: model {name!r}: {exc}") from None
    return entries


def builtin_registry_path() -> Path:
    """The catalogue shipped with the zoo: in a wheel under zoo_core/catalogue/, in a checkout at the top."""
    packaged = Path(__file__).parent / "catalogue" / "registry.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "registry.yaml"


@dataclass
class Catalogue:
    entries: dict[str, ModelEntry]
    aliases: dict[str, str]


_lock = threading.Lock()
_catalogue: Catalogue | None = None


def _sources() -> list[tuple[Path, str | None]]:
    from . import plugins

    sources: list[tuple[Path, str | None]] = [(builtin_registry_path(), None)]
    sources.extend((p, name) for p, name in plugins.state().registry_files)
    for raw in filter(None, os.environ.get(USER_REGISTRY_ENV, "").split(os.pathsep)):
        sources.append((Path(raw), None))
    return sources


def _build() -> Catalogue:
    from . import plugins

    entries: dict[str, ModelEntry] = {}
    origin: dict[str, str | None] = {}
    for path, plugin in _sources():
        if plugin is None:
            file_entries = load_file(path)
        else:
            try:
                file_entries = load_file(path)
            except RegistryError as exc:  # a plugin's bad file fails that plugin, not the zoo
                plugins.mark_failed(plugin, str(exc))
                continue
        for entry in file_entries:
            if entry.name in entries:
                first = entries[entry.name]
                who = f" (plugin {origin[entry.name]})" if origin[entry.name] else ""
                msg = (
                    f"{entry.source}: model {entry.name!r} is already defined at {first.source}{who}; "
                    "rename one of them"
                )
                if plugin is None:
                    raise RegistryError(msg)
                plugins.mark_failed(plugin, msg)
                continue
            entries[entry.name] = entry
            origin[entry.name] = plugin
    aliases = {alias: e.name for e in entries.values() for alias in e.aliases if alias not in entries}
    return Catalogue(entries, aliases)


def catalogue() -> Catalogue:
    global _catalogue
    with _lock:
        if _catalogue is None:
            _catalogue = _build()
        return _catalogue


def reset() -> None:
    global _catalogue
    with _lock:
        _catalogue = None


def all_entries() -> list[ModelEntry]:
    return list(catalogue().entries.values())


def find(name: str) -> ModelEntry | None:
    cat = catalogue()
    name = cat.aliases.get(name, name)
    return cat.entries.get(name)


def match(pattern: str, names: Iterable[str]) -> list[str]:
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
