"""The plugin manager: loads the ``zoo`` entry points, isolates broken plugins, collects architectures.

Built-in and third-party plugins are found the same way, through the ``zoo`` entry-point group. Set
``ZOO_LOAD_PLUGINS`` to a comma-separated allowlist of entry-point or distribution names to load only those
(an empty value loads none).
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pluggy

from . import hookspecs
from .architecture import Architecture

log = logging.getLogger("zoo.plugins")

ENTRY_POINT_GROUP = "zoo"
ALLOWLIST_ENV = "ZOO_LOAD_PLUGINS"


@dataclass
class PluginInfo:
    """One plugin as ``zoo plugins`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    architectures: list[str] = field(default_factory=list)
    frameworks: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.distribution})" if self.distribution else self.name


@dataclass
class PluginState:
    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo]
    architectures: dict[str, Architecture]
    provider: dict[str, str]  # architecture -> plugin name
    registry_files: list[tuple[Path, str]]  # (path, plugin name)


_lock = threading.Lock()
_state: PluginState | None = None
_extra: list[tuple[str, ModuleType | object]] = []


def _allowlist() -> set[str] | None:
    raw = os.environ.get(ALLOWLIST_ENV)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _entry_points() -> list[md.EntryPoint]:
    eps = md.entry_points(group=ENTRY_POINT_GROUP)
    seen: set[tuple[str, str]] = set()
    unique = []
    for ep in eps:  # a package installed twice (e.g. editable + metadata) lists the same point twice
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    # A stable order, whatever sys.path says: the zoo's own plugins first, then by distribution and name.
    # On a name conflict the earlier plugin keeps the name and the later one is reported as failed.
    return sorted(unique, key=lambda ep: (_dist_name(ep) != "zoo", _dist_name(ep), ep.name))


def _dist_name(ep: md.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ""


def _fail(info: PluginInfo, reason: str) -> None:
    info.error = reason
    log.warning("zoo plugin %s failed: %s", info.label, reason)


def _build_state() -> PluginState:
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    allow = _allowlist()
    plugins: dict[str, PluginInfo] = {}
    modules: list[tuple[str, object]] = []

    for ep in _entry_points():
        dist = ep.dist.name if ep.dist is not None else None
        version = ep.dist.version if ep.dist is not None else None
        if allow is not None and ep.name not in allow and (dist or "") not in allow:
            continue
        info = PluginInfo(name=ep.name, distribution=dist, version=version)
        plugins[ep.name] = info
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not break the zoo
            _fail(info, f"import failed: {type(exc).__name__}: {exc}")
            continue
        modules.append((ep.name, module))

    for name, module in _extra:
        plugins[name] = PluginInfo(name=name, distribution=None, version=None)
        modules.append((name, module))

    for name, module in modules:
        try:
            pm.register(module, name=name)
        except Exception as exc:
            _fail(plugins[name], f"registration failed: {type(exc).__name__}: {exc}")

    architectures: dict[str, Architecture] = {}
    provider: dict[str, str] = {}
    for impl in pm.hook.register_architectures.get_hookimpls():  # registration order
        name = impl.plugin_name
        info = plugins[name]
        pending: list[Architecture] = []
        try:
            impl.function(register=pending.append)
            for arch in pending:
                if not isinstance(arch, Architecture):
                    raise TypeError(f"register() takes zoo_core.Architecture, got {type(arch).__name__}")
                if arch.name in architectures or sum(a.name == arch.name for a in pending) > 1:
                    other = provider.get(arch.name, name)
                    raise ValueError(
                        f"architecture {arch.name!r} is already registered by plugin "
                        f"{plugins[other].label}; rename it in plugin {info.label}"
                    )
        except Exception as exc:
            _fail(info, f"register_architectures failed: {exc}")
            continue
        for arch in pending:
            architectures[arch.name] = arch
            provider[arch.name] = name
            info.architectures.append(arch.name)
            for fw in arch.frameworks:
                if fw not in info.frameworks:
                    info.frameworks.append(fw)

    files: list[tuple[Path, str]] = []
    for impl in pm.hook.registry_files.get_hookimpls():
        info = plugins[impl.plugin_name]
        if not info.ok:
            continue
        try:
            files.extend((Path(p), impl.plugin_name) for p in (impl.function() or []))
        except Exception as exc:
            _fail(info, f"registry_files failed: {type(exc).__name__}: {exc}")
    return PluginState(pm, plugins, architectures, provider, files)


def state() -> PluginState:
    """Load the plugins once (thread-safe) and return what they registered."""
    global _state
    with _lock:
        if _state is None:
            _state = _build_state()
        return _state


def reset() -> None:
    """Forget loaded plugins so the next call loads them again (tests, new installs); the catalogue built from
    them is rebuilt with them (``models.catalogue`` follows the plugin state)."""
    global _state
    with _lock:
        _state = None


def register_plugin(module: object, name: str) -> None:
    """Register a plugin object directly (tests, notebooks); it joins the entry-point plugins on next load."""
    _extra.append((name, module))
    reset()


def unregister_plugin(name: str) -> None:
    _extra[:] = [(n, m) for n, m in _extra if n != name]
    reset()


def mark_failed(plugin: str, reason: str) -> None:
    """Record that a plugin's contribution (e.g. a registry entry) was rejected."""
    info = state().plugins.get(plugin)
    if info is not None and info.ok:
        _fail(info, reason)


def list_plugins() -> list[PluginInfo]:
    return list(state().plugins.values())


def architectures() -> dict[str, Architecture]:
    return dict(state().architectures)


_resolvers: list[Callable[[str], Architecture | None]] = []


def add_resolver(resolver: Callable[[str], Architecture | None]) -> None:
    """Resolve architecture names no plugin registered (``timm:NAME``) with ``resolver(name)``, None if unknown."""
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def get_architecture(name: str) -> Architecture | None:
    arch = state().architectures.get(name)
    for resolver in _resolvers if arch is None else ():
        arch = resolver(name)
        if arch is not None:
            break
    return arch
