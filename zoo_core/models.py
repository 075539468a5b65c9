"""Named models: the catalogue the loaded plugins contribute, their architectures, and building one.

Layer 3: composes the plugin manager and the catalogue (which registry files there are, which plugins failed) and
builds a randomly initialised model through a plugin's builder. Loading checkpoints and Hub handles is
``factory.py``'s job.
"""

from __future__ import annotations

import difflib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from . import backends, catalog, plugins
from .architecture import Architecture, BuildSpec
from .catalog import Catalogue, ModelEntry
from .errors import ArchitectureUnavailableError, UnknownModelError, ZooError
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
    hint = f"; did you mean {' or '.join(close)}?" if close else "; run `zoo list` to see every model"
    raise UnknownModelError(f"unknown model {name!r}{hint}")


def get_architecture(entry: ModelEntry) -> Architecture:
    arch = _available(entry)
    if arch is None:
        raise ArchitectureUnavailableError(f"model {entry.name!r} ({entry.source}): {missing_reason(entry)}")
    return arch


def specialise(entry: ModelEntry, *, num_classes: int | None = None, in_chans: int | None = None,
               input_size: tuple[int, int] | int | None = None, config: dict | None = None) -> ModelEntry:
    """The entry with the given overrides (None keeps the entry's value)."""
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    update: dict[str, Any] = {}
    if num_classes is not None:
        update["num_classes"] = int(num_classes)
    if in_chans is not None:
        update["in_chans"] = int(in_chans)
    if input_size is not None:
        update["input_size"] = tuple(int(s) for s in input_size)
    if config:
        update["config"] = {**entry.config, **config}
    try:
        return entry.replace(**update) if update else entry
    except catalog.EntryError as exc:  # e.g. num_classes=0
        raise ZooError(f"cannot build {entry.name!r}: {'.'.join(map(str, exc.loc))} {exc}") from None


def attach(model: Any, entry: ModelEntry, framework: str) -> Any:
    """Record on ``model`` what it is (``model.zoo_spec``): the entry as built and its framework."""
    setattr(model, SPEC_ATTR, ModelSpec(entry, canonical_framework(framework)))
    return model


def build(entry: ModelEntry, framework: str, *, num_classes: int | None = None, in_chans: int | None = None,
          input_size: tuple[int, int] | int | None = None, config: dict | None = None) -> Any:
    """Build a randomly initialised model of a registry entry in one framework."""
    fw = canonical_framework(framework)
    arch = get_architecture(entry)
    if fw not in arch.frameworks:
        raise ZooError(f"architecture {arch.name!r} has no {fw} builder; it builds in: {', '.join(arch.frameworks)}")
    backends.get(fw)  # checks the framework is installed, names the extra if not
    built = specialise(entry, num_classes=num_classes, in_chans=in_chans, input_size=input_size, config=config)
    model = attach(arch.builder(fw)(BuildSpec.from_entry(built)), built, fw)
    log.info("built %s (%s, %s) with %d classes, %d channels, input %s", built.name, arch.name, fw,
             built.num_classes, built.in_chans, built.input_size)
    return model
