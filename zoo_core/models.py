"""Named models: the catalogue the loaded plugins contribute, their architectures, and building one.

Layer 3: composes the plugin manager and the catalogue (which registry files there are, which plugins failed) and
builds a randomly initialised model through a plugin's builder. Loading checkpoints and Hub handles is
``factory.py``'s job.
"""

from __future__ import annotations

import difflib
import logging
import numbers
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import backends, catalog, plugins
from .architecture import Architecture, BuildSpec
from .catalog import Catalogue, ModelEntry
from .errors import ArchitectureUnavailableError, BuildError, UnknownModelError, ZooError
from .frameworks import canonical_framework
from .torch2keras import timm_models

log = logging.getLogger("zoo")

SPEC_ATTR = "zoo_spec"

plugins.add_resolver(timm_models.architecture)  # timm:NAME architectures, made on demand


@dataclass(frozen=True)
class ModelSpec:
    """What the zoo knows about a built model; attached to it as ``model.zoo_spec``."""

    entry: ModelEntry  # with num_classes / in_chans / input_size as built
    framework: str

    @property
    def architecture(self) -> str:
        return self.entry.architecture


def spec_of(model: Any) -> ModelSpec:
    spec = getattr(model, SPEC_ATTR, None)
    if not isinstance(spec, ModelSpec):
        raise ZooError(
            f"this {type(model).__name__} was not built by the zoo, so its architecture and stages are unknown; "
            "build it with zoo.load(...)"
        )
    return spec


_lock = threading.Lock()
_catalogue: tuple[object, Catalogue] | None = None  # (the plugin state it was built from, the catalogue)


def catalogue() -> Catalogue:
    """The catalogue of the loaded plugins' registry files, then ``$ZOO_REGISTRY``'s; rebuilt whenever the plugins
    are reloaded. Contributions the catalogue rejects fail their plugin (``zoo plugins`` shows why)."""
    global _catalogue
    state = plugins.state()
    with _lock:
        if _catalogue is None or _catalogue[0] is not state:
            sources = [*state.registry_files, *((p, None) for p in catalog.user_registry_files())]
            _catalogue = (state, catalog.build(sources))
            for plugin, reason in _catalogue[1].rejected:
                plugins.mark_failed(plugin, reason)
        return _catalogue[1]


def _available(entry: ModelEntry) -> Architecture | None:
    return plugins.get_architecture(entry.architecture)


def list_models(pattern: str = "*", framework: str | None = None, *, include_unavailable: bool = False) -> list[str]:
    """Names of registered models matching a wildcard pattern, optionally only those a framework can build."""
    fw = canonical_framework(framework) if framework else None
    names = []
    for entry in catalogue().all_entries():
        arch = _available(entry)
        if arch is None and not include_unavailable:
            continue
        if fw and (arch is None or fw not in arch.frameworks):
            continue
        names.append(entry.name)
    return sorted(catalog.match(pattern, names))


def unavailable_entries() -> list[tuple[ModelEntry, str]]:
    """Entries whose architecture no loaded plugin provides, with the reason."""
    return [(e, missing_reason(e)) for e in catalogue().all_entries() if _available(e) is None]


def missing_reason(entry: ModelEntry) -> str:
    wanted = entry.plugin or f"a plugin providing {entry.architecture!r}"
    failed = [p for p in plugins.list_plugins() if not p.ok and p.name == entry.architecture
              or (entry.plugin and p.distribution == entry.plugin and not p.ok)]
    if failed:
        return f"plugin {failed[0].label} failed to load: {failed[0].error}"
    note = plugins.allowlist_note(entry.architecture, entry.plugin)
    if note:
        return f"architecture {entry.architecture!r} is provided by no loaded plugin: {note}"
    return f"architecture {entry.architecture!r} is provided by no loaded plugin; install {wanted}"


def get_entry(name: str) -> ModelEntry:
    """The registry entry for a name or alias, or ``timm:NAME`` (a bare timm name no entry shadows works too);
    unknown names get close suggestions."""
    if name.startswith(timm_models.PREFIX):
        return timm_models.entry(name)
    cat = catalogue()
    entry = cat.find(name)
    if entry is not None:
        return entry
    if timm_models.is_timm_name(name):
        return timm_models.entry(name)
    names = [e.name for e in cat.all_entries()] + list(cat.aliases)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        close = [n for n in names if name.lower() in n.lower()][:3]
    note = plugins.allowlist_note(name)
    if close:
        hint = f"; did you mean {' or '.join(close)}?"
    else:
        hint = f"; {note}" if note else "; run `zoo list` to see every model"
        if not note and not timm_models.installed():
            hint += " (timm's own model names need torch and timm: pip install 'zoo[torch]')"
    raise UnknownModelError(f"unknown model {name!r}{hint}")


def get_architecture(entry: ModelEntry) -> Architecture:
    arch = _available(entry)
    if arch is None:
        raise ArchitectureUnavailableError(f"model {entry.name!r} ({entry.source}): {missing_reason(entry)}")
    return arch


SIZE_KEYWORDS = ("num_classes", "in_chans", "input_size")


def whole_number(name: str, value: Any) -> int:
    """``value`` as an int >= 1 when it is a whole number (3, 3.0, numpy ints), else a one-line BuildError."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not (isinstance(value, numbers.Integral) or float(value).is_integer()):
        raise BuildError(f"{name} must be a whole number >= 1, got {value!r}; pass e.g. {name}=10")
    number = int(value)
    if number < 1:
        raise BuildError(f"{name} must be a whole number >= 1, got {value!r}; pass e.g. {name}=10")
    return number


def _input_size(value: Any) -> tuple[int, int]:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        size = whole_number("input_size", value)
        return size, size
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise BuildError(f"input_size must be a whole number or (height, width) of whole numbers >= 1, got "
                         f"{value!r}; pass e.g. input_size=(224, 224)")
    return whole_number("input_size", value[0]), whole_number("input_size", value[1])


class _ReadTracker(Mapping):
    """A builder's config that records which keys the builder looked up (iterating it counts as reading all: a
    builder that lists the keys checks them itself)."""

    def __init__(self, data: Mapping[str, Any]):
        self._data = dict(data)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        self.read.add(key)  # type: ignore[arg-type]
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        self.read.update(self._data)
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text if len(text) <= limit else text[:limit] + '…'}"


def specialise(entry: ModelEntry, *, num_classes: int | None = None, in_chans: int | None = None,
               input_size: tuple[int, int] | int | None = None, config: dict | None = None) -> ModelEntry:
    """The entry with the given overrides (None keeps the entry's value); sizes must be whole numbers."""
    update: dict[str, Any] = {}
    if num_classes is not None:
        update["num_classes"] = whole_number("num_classes", num_classes)
    if in_chans is not None:
        update["in_chans"] = whole_number("in_chans", in_chans)
    if input_size is not None:
        update["input_size"] = _input_size(input_size)
    if config:
        update["config"] = {**entry.config, **config}
    try:
        return entry.replace(**update) if update else entry
    except catalog.EntryError as exc:  # e.g. num_classes=0
        raise BuildError(f"cannot build {entry.name!r}: {'.'.join(map(str, exc.loc))} {exc}") from None


def attach(model: Any, entry: ModelEntry, framework: str) -> Any:
    """Record on ``model`` what it is (``model.zoo_spec``): the entry as built and its framework."""
    setattr(model, SPEC_ATTR, ModelSpec(entry, canonical_framework(framework)))
    return model


def build(entry: ModelEntry, framework: str, *, num_classes: int | None = None, in_chans: int | None = None,
          input_size: tuple[int, int] | int | None = None, config: dict | None = None,
          keywords: Sequence[str] = SIZE_KEYWORDS) -> Any:
    """Build a randomly initialised model of a registry entry in one framework.

    Sizes must be whole numbers (``2.5`` and ``True`` are errors, not 2 and 1). A ``config`` key that is neither
    in the entry's config nor looked up by the builder is taken for a misspelling: a BuildError suggesting the
    closest of ``keywords`` (the caller's own keyword arguments) and the keys the builder read. A builder that
    raises is reported as one BuildError naming the entry, its source file:line and the config.
    """
    fw = canonical_framework(framework)
    arch = get_architecture(entry)
    if fw not in arch.frameworks:
        raise ZooError(f"architecture {arch.name!r} has no {fw} builder; it builds in: {', '.join(arch.frameworks)}")
    backends.get(fw)  # checks the framework is installed, names the extra if not
    built = specialise(entry, num_classes=num_classes, in_chans=in_chans, input_size=input_size, config=config)
    spec = BuildSpec.from_entry(built)
    tracked = _ReadTracker(spec.config)
    try:
        builder = arch.builder(fw)
    except Exception as exc:  # "module:function" that does not import
        raise BuildError(
            f"the {fw} builder {arch.builders[fw]!r} of architecture {arch.name!r} cannot be imported: "
            f"{_one_line(exc)}; reinstall or fix the plugin {plugins.state().provider.get(arch.name, '')}".rstrip()
        ) from exc
    try:
        model = builder(BuildSpec(spec.name, spec.architecture, tracked, spec.num_classes, spec.in_chans,
                                  spec.input_size))
    except (ZooError, MemoryError):
        raise
    except Exception as exc:  # the plugin's code: a bad config makes it raise anything
        typos = [f"{k} (did you mean {m[0]}?)" for k in (config or {}) if k not in entry.config
                 for m in [difflib.get_close_matches(k, keywords, n=1, cutoff=0.8)] if m]
        fix = (f"check the keyword {typos[0]}" if typos else
               f"fix the config in {built.source or 'the registry'} or the keyword arguments")
        raise BuildError(
            f"cannot build {built.name!r} ({built.source}) in {fw} with config {dict(built.config)}: the "
            f"{arch.name!r} builder raised {_one_line(exc)}; {fix}"
        ) from exc
    unknown = sorted(k for k in (config or {}) if k not in entry.config and k not in tracked.read)
    if unknown:
        known = sorted({*keywords, *tracked.read, *entry.config})
        close = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise BuildError(
            f"unknown keyword {unknown[0]!r} for {built.name!r}: neither an argument nor a config key the "
            f"{arch.name!r} builder reads; {hint}(known: {', '.join(known)})"
        )
    attach(model, built, fw)
    log.info("built %s (%s, %s) with %d classes, %d channels, input %s", built.name, arch.name, fw,
             built.num_classes, built.in_chans, built.input_size)
    return model
