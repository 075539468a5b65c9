"""Find, describe and build named models: ``list_models``, ``model_info``, ``load``."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import plugins, registry
from .architecture import Architecture, BuildSpec
from .errors import ArchitectureUnavailableError, UnknownModelError, ZooError
from .frameworks import FRAMEWORKS, canonical_framework
from .registry import ModelEntry

log = logging.getLogger("zoo")

SPEC_ATTR = "zoo_spec"


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


def _available(entry: ModelEntry) -> Architecture | None:
    return plugins.get_architecture(entry.architecture)


def list_models(pattern: str = "*", framework: str | None = None, *, include_unavailable: bool = False) -> list[str]:
    """Names of registered models matching a wildcard pattern, optionally only those a framework can build."""
    fw = canonical_framework(framework) if framework else None
    names = []
    for entry in registry.all_entries():
        arch = _available(entry)
        if arch is None and not include_unavailable:
            continue
        if fw and (arch is None or fw not in arch.frameworks):
            continue
        names.append(entry.name)
    return sorted(registry.match(pattern, names))


def unavailable_entries() -> list[tuple[ModelEntry, str]]:
    """Entries whose architecture no loaded plugin provides, with the reason."""
    return [(e, _missing_reason(e)) for e in registry.all_entries() if _available(e) is None]


def _missing_reason(entry: ModelEntry) -> str:
    wanted = entry.plugin or f"a plugin providing {entry.architecture!r}"
    failed = [p for p in plugins.list_plugins() if not p.ok and p.name == entry.architecture
              or (entry.plugin and p.distribution == entry.plugin and not p.ok)]
    if failed:
        return f"plugin {failed[0].label} failed to load: {failed[0].error}"
    return f"architecture {entry.architecture!r} is provided by no loaded plugin; install {wanted}"


def get_entry(name: str) -> ModelEntry:
    """The registry entry for a name or alias; unknown names get close suggestions."""
    entry = registry.find(name)
    if entry is not None:
        return entry
    names = [e.name for e in registry.all_entries()] + list(registry.catalogue().aliases)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        close = [n for n in names if name.lower() in n.lower()][:3]
    hint = f"; did you mean {' or '.join(close)}?" if close else "; run `zoo list` to see every model"
    raise UnknownModelError(f"unknown model {name!r}{hint}")


def get_architecture(entry: ModelEntry) -> Architecture:
    arch = _available(entry)
    if arch is None:
        raise ArchitectureUnavailableError(f"model {entry.name!r} ({entry.source}): {_missing_reason(entry)}")
    return arch


def build(entry: ModelEntry, framework: str, *, num_classes: int | None = None, in_chans: int | None = None,
          input_size: tuple[int, int] | int | None = None, config: dict | None = None) -> Any:
    """Build a randomly initialised model of a registry entry in one framework."""
    from . import backends

    fw = canonical_framework(framework)
    arch = get_architecture(entry)
    if fw not in arch.frameworks:
        raise ZooError(f"architecture {arch.name!r} has no {fw} builder; it builds in: {', '.join(arch.frameworks)}")
    backends.get(fw)  # checks the framework is installed, names the extra if not
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
        built = entry.replace(**update) if update else entry
    except registry.EntryError as exc:  # e.g. num_classes=0
        raise ZooError(f"cannot build {entry.name!r}: {'.'.join(map(str, exc.loc))} {exc}") from None
    model = arch.builder(fw)(BuildSpec.from_entry(built))
    setattr(model, SPEC_ATTR, ModelSpec(built, fw))
    log.info("built %s (%s, %s) with %d classes, %d channels, input %s", built.name, arch.name, fw,
             built.num_classes, built.in_chans, built.input_size)
    return model


def load(name_or_path: str, framework: str = "torch", *, num_classes: int | None = None,
         in_chans: int | None = None, input_size: tuple[int, int] | int | None = None, strict: bool = True,
         weights: str | None = None, token: str | None = None, endpoint: str | None = None,
         **config: Any) -> Any:
    """Load a model as a plain ``torch.nn.Module`` or ``keras.Model``.

    ``name_or_path``: a registry name or alias (random init), a checkpoint directory (zoo or timm layout), or a
    Hub handle ``hf://owner/repo[@revision]``. ``framework``: torch / pytorch / pt, or tf / tensorflow / keras.
    Torch models take NCHW input, Keras models NHWC. ``num_classes``, ``in_chans`` and ``input_size`` override
    the registry entry; extra keywords override its config. For a checkpoint, a different ``num_classes``
    re-initialises only the head. ``weights="default"`` loads the Hub weights a registry entry names (pinned
    revision, sha256 checked). ``token``/``endpoint`` override huggingface_hub's settings for Hub handles.
    """
    import os

    canonical_framework(framework)
    if weights is not None and not name_or_path.startswith("hf://"):
        if weights != "default":
            raise ZooError(f"weights={weights!r}: use weights='default' (the registry's Hub weights) or a hf:// handle")
        entry = get_entry(name_or_path)
        if entry.weights is None:
            raise ZooError(f"model {entry.name!r} has no weights in the registry ({entry.source}); "
                           "load it without weights= for random init, or from a checkpoint directory or hf:// handle")
        from . import checkpoint, hub

        path = hub.pull(entry.weights.repo, revision=entry.weights.revision, token=token, endpoint=endpoint)
        if entry.weights.sha256 and checkpoint.sha256_file(path / checkpoint.WEIGHTS_NAME) != entry.weights.sha256:
            raise ZooError(f"the weights of {entry.name!r} at hf://{entry.weights.repo}@{entry.weights.revision} do "
                           f"not match the sha256 in the registry ({entry.source}); the repo changed or is corrupt")
        name_or_path = str(path)
    if name_or_path.startswith("hf://"):
        from . import hub

        name_or_path = str(hub.pull(name_or_path, token=token, endpoint=endpoint))
    if os.sep in name_or_path or "/" in name_or_path or os.path.isdir(name_or_path):
        from .checkpoint import load_dir

        if in_chans is not None or input_size is not None or config:
            raise ZooError("a checkpoint fixes in_chans, input_size and config; only num_classes can be changed")
        return load_dir(name_or_path, framework, num_classes=num_classes, strict=strict)
    entry = get_entry(name_or_path)
    return build(entry, framework, num_classes=num_classes, in_chans=in_chans, input_size=input_size,
                 config=config or None)


def model_info(name: str, *, params: bool = False) -> dict[str, Any]:
    """The registry entry as a dict, plus its architecture's stages and frameworks; with ``params`` the parameter
    count per installed framework (this builds the model)."""
    import os

    if name.startswith("hf://") or "/" in name or os.path.isdir(name):
        from . import checkpoint

        path = name
        if name.startswith("hf://"):
            from . import hub

            path = str(hub.pull(name))
        entry = checkpoint.entry_from_config(checkpoint.read_config(path), Path(path))
    else:
        entry = get_entry(name)
    info: dict[str, Any] = entry.to_dict()
    arch = _available(entry)
    info["available"] = arch is not None
    if arch is None:
        info["unavailable_reason"] = _missing_reason(entry)
        return info
    info["stages"] = list(arch.stages)
    info["frameworks"] = list(arch.frameworks)
    info["plugin"] = plugins.state().provider.get(arch.name)
    if params:
        from . import backends
        from .frameworks import is_installed

        counts = {}
        for fw in FRAMEWORKS:
            if fw in arch.frameworks and is_installed(fw):
                counts[fw] = backends.get(fw).count_params(build(entry, fw))
        info["params"] = counts
    return info
