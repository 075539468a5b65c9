"""The catalogue of named models: validated entries read from YAML registry files.

Given its sources (the files plugins return from their ``registry_files`` hook, then the files named in
``ZOO_REGISTRY``, ``os.pathsep``-separated), :func:`build` returns the entries and the rejected contributions.
Every entry is validated; an invalid entry fails with its file, line and reason. A name defined twice is an error
naming both places, never an override. Which sources there are is decided above this layer (``models.py``).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import RegistryError

USER_REGISTRY_ENV = "ZOO_REGISTRY"
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
CROP_MODES = ("center", "squash")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class EntryError(ValueError):
    """An invalid entry field. ``loc``: the path to the field (("weights", "repo")); ``kind``: "missing",
    "unknown" or "invalid"."""

    def __init__(self, loc: tuple[Any, ...], kind: str, message: str):
        super().__init__(message)
        self.loc, self.kind = loc, kind


# Validation by hand rather than with a schema library: `zoo list` and `import zoo_core` must start fast, and
# these two small records are all the catalogue needs.


def _str(value: Any, loc: tuple[Any, ...], optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise EntryError(loc, "invalid", f"should be a string, got {value!r}")
    return value


def _int(value: Any, loc: tuple[Any, ...], minimum: int = 1) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EntryError(loc, "invalid", f"should be an integer, got {value!r}")
    if value < minimum:
        raise EntryError(loc, "invalid", f"should be at least {minimum}, got {value}")
    return value


def _float(value: Any, loc: tuple[Any, ...]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EntryError(loc, "invalid", f"should be a number, got {value!r}")
    return float(value)


def _seq(value: Any, loc: tuple[Any, ...]) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise EntryError(loc, "invalid", f"should be a list, got {value!r}")
    return list(value)


def _choice(value: Any, loc: tuple[Any, ...], choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise EntryError(loc, "invalid", f"should be one of {', '.join(choices)}, got {value!r}")
    return value


@dataclass(frozen=True)
class WeightsSpec:
    """Where an entry's weights live on the Hub (a repo in the zoo checkpoint layout)."""

    repo: str
    revision: str = "main"
    sha256: str | None = None

    def __post_init__(self) -> None:
        _str(self.repo, ("weights", "repo"))
        _str(self.revision, ("weights", "revision"))
        if self.sha256 is not None and not (isinstance(self.sha256, str) and _SHA256.match(self.sha256)):
            raise EntryError(("weights", "sha256"), "invalid",
                             f"should be 64 lowercase hex digits (quote it in YAML), got {self.sha256!r}")

    @classmethod
    def from_dict(cls, raw: Any) -> WeightsSpec:
        if isinstance(raw, WeightsSpec):
            return raw
        if not isinstance(raw, dict):
            raise EntryError(("weights",), "invalid", f"should be a mapping with repo, revision, sha256, got {raw!r}")
        _check_keys(cls, raw, ("weights",))
        return cls(**raw)


@dataclass(frozen=True)
class ModelEntry:
    """One named model of the catalogue. Constructing one validates and normalises every field (lists become
    tuples); an invalid field raises :class:`EntryError`."""

    name: str
    architecture: str
    num_classes: int
    input_size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    in_chans: int = 3
    interpolation: str = "bilinear"  # one of INTERPOLATIONS
    crop_pct: float = 1.0
    crop_mode: str = "center"  # one of CROP_MODES
    license: str = "apache-2.0"
    plugin: str | None = None
    aliases: tuple[str, ...] = ()
    weights: WeightsSpec | None = None
    source: str = ""  # "file:line", filled in by the loader

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in ("name", "architecture", "description", "license", "source"):
            _str(getattr(self, name), (name,))
        _str(self.plugin, ("plugin",), optional=True)
        if not isinstance(self.config, dict):
            raise EntryError(("config",), "invalid", f"should be a mapping of builder arguments, got {self.config!r}")
        put("num_classes", _int(self.num_classes, ("num_classes",)))
        put("in_chans", _int(self.in_chans, ("in_chans",)))
        size = _seq(self.input_size, ("input_size",))
        if len(size) != 2:
            raise EntryError(("input_size",), "invalid", f"should be [height, width], got {self.input_size!r}")
        try:
            put("input_size", tuple(_int(v, ("input_size", i)) for i, v in enumerate(size)))
        except EntryError:
            raise EntryError(("input_size",), "invalid", "input_size must be two positive integers [height, "
                             f"width], got {self.input_size!r}") from None
        put("mean", tuple(_float(v, ("mean", i)) for i, v in enumerate(_seq(self.mean, ("mean",)))))
        put("std", tuple(_float(v, ("std", i)) for i, v in enumerate(_seq(self.std, ("std",)))))
        if any(s <= 0 for s in self.std):
            raise EntryError(("std",), "invalid", "std values must be positive")
        if len(self.mean) != len(self.std):
            raise EntryError(("std",), "invalid", "mean and std must have the same length")
        _choice(self.interpolation, ("interpolation",), INTERPOLATIONS)
        _choice(self.crop_mode, ("crop_mode",), CROP_MODES)
        put("crop_pct", _float(self.crop_pct, ("crop_pct",)))
        if not 0 < self.crop_pct <= 1:
            raise EntryError(("crop_pct",), "invalid", f"should be in (0, 1], got {self.crop_pct}")
        put("aliases", tuple(_str(a, ("aliases", i)) for i, a in enumerate(_seq(self.aliases, ("aliases",)))))
        if self.weights is not None:
            put("weights", WeightsSpec.from_dict(self.weights))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], **fixed: Any) -> ModelEntry:
        """An entry from a mapping of fields (plus ``fixed`` ones such as name and source); unknown or missing
        fields raise :class:`EntryError`."""
        data = {**raw, **fixed}
        _check_keys(cls, data, ())
        return cls(**data)

    def replace(self, **update: Any) -> ModelEntry:
        """A copy with some fields changed (validated again)."""
        return replace(self, **update)

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values (tuples as lists)."""
        def plain(value: Any) -> Any:
            if isinstance(value, (tuple, list)):
                return [plain(v) for v in value]
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return value

        return plain(asdict(self))


def check_stats(entry: ModelEntry) -> None:
    """A registry entry's mean/std have 1 value or one per input channel (checked for registry files only: a model
    built with another ``in_chans`` keeps its entry's statistics, which preprocessing adapts)."""
    for name in ("mean", "std"):
        n = len(getattr(entry, name))
        if n not in (1, entry.in_chans):
            raise EntryError((name,), "invalid", f"has {n} values for {entry.in_chans} input channels; give 1 value "
                             f"or {entry.in_chans}")


def field_names(cls: type) -> list[str]:
    """The fields of :class:`ModelEntry` or :class:`WeightsSpec`, in order."""
    return [f.name for f in fields(cls)]


def _check_keys(cls: type, data: dict[str, Any], prefix: tuple[Any, ...]) -> None:
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise EntryError((*prefix, key), "unknown", f"unknown field {key!r}")
    for name, f in known.items():
        if name not in data and f.default is MISSING and f.default_factory is MISSING:
            dotted = ".".join(str(p) for p in (*prefix, name))
            raise EntryError((*prefix, name), "missing", f"missing required field {dotted!r}")


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when PyYAML has it
    """A YAML loader that rejects duplicate keys and keeps each node's line."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise RegistryError(f"{loader.name}:{line}: a key is a {type(key).__name__}; keys are names") from None
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


def _value_node(mapping: yaml.Node, key: Any) -> yaml.Node | None:
    """The value node of ``key`` in a mapping node (None when not found, e.g. from a merge key)."""
    if not isinstance(mapping, yaml.MappingNode):
        return None
    return next((v for k, v in mapping.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)), None)


def load_file(path: str | Path) -> list[ModelEntry]:
    """Read and validate one registry file; raise RegistryError with file, line and reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read registry file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text (byte {exc.start}); a registry file is UTF-8 YAML") from None
    loader = _LineLoader(text)
    loader.name = str(path)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc).splitlines()[0]
        raise RegistryError(f"{path}{line}: not valid YAML: {' '.join(str(problem).split())}") from None
    finally:
        loader.dispose()
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise RegistryError(f"{path}:1: a registry file is a mapping with a 'models:' mapping of name -> entry")
    models_node = _value_node(root, "models") or root
    entries = []
    for name, raw in data["models"].items():
        entry_node = _value_node(models_node, name) or models_node
        key_node = next((k for k, v in models_node.value if v is entry_node), entry_node)
        line = key_node.start_mark.line + 1
        if not isinstance(raw, dict):
            raise RegistryError(f"{path}:{line}: model {name!r}: an entry is a mapping of fields")
        try:
            entry = ModelEntry.from_dict(raw, name=str(name), source=f"{path}:{line}")
            check_stats(entry)
            entries.append(entry)
        except EntryError as exc:
            loc = tuple(exc.loc)
            dotted = ".".join(str(p) for p in loc)
            if exc.kind == "missing":
                at, reason = (line if len(loc) == 1 else _line_of(entry_node, loc[:-1])), str(exc)
            elif exc.kind == "unknown":
                at, reason = _line_of(entry_node, loc), str(exc)
            else:
                at, reason = _line_of(entry_node, loc), f"field {dotted!r}: {exc}"
            raise RegistryError(f"{path}:{at}: model {name!r}: {reason}") from None
    return entries


def user_registry_files() -> list[Path]:
    """The files named in ``$ZOO_REGISTRY``."""
    return [Path(raw) for raw in filter(None, os.environ.get(USER_REGISTRY_ENV, "").split(os.pathsep))]


@dataclass
class Catalogue:
    """Entries by name, aliases to names, and the plugins whose contributions were rejected (plugin, reason)."""

    entries: dict[str, ModelEntry]
    aliases: dict[str, str]
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def all_entries(self) -> list[ModelEntry]:
        return list(self.entries.values())

    def find(self, name: str) -> ModelEntry | None:
        """The entry of a name or alias, or None."""
        return self.entries.get(self.aliases.get(name, name))


def build(sources: Iterable[tuple[Path, str | None]]) -> Catalogue:
    """The catalogue of ``(file, plugin or None)`` sources, in order. A bad file or a taken name from a plugin
    rejects that contribution (recorded in ``rejected``); from the user (plugin None) it raises RegistryError."""
    entries: dict[str, ModelEntry] = {}
    origin: dict[str, str | None] = {}
    rejected: list[tuple[str, str]] = []
    for path, plugin in sources:
        if plugin is None:
            file_entries = load_file(path)
        else:
            try:
                file_entries = load_file(path)
            except RegistryError as exc:  # a plugin's bad file fails that plugin, not the zoo
                rejected.append((plugin, str(exc)))
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
                rejected.append((plugin, msg))
                continue
            entries[entry.name] = entry
            origin[entry.name] = plugin
    aliases = {alias: e.name for e in entries.values() for alias in e.aliases if alias not in entries}
    return Catalogue(entries, aliases, rejected)


def match(pattern: str, names: Iterable[str]) -> list[str]:
    return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
