"""Load anything by one name: a catalogue name, a checkpoint directory or a Hub handle; describe it.

Layer 4: the one place that composes the catalogue (``models``), checkpoints and the Hub, like timm's
``create_model``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from . import backends, hub, models, plugins
from .architecture import BuildSpec
from .checkpoint.format import WEIGHTS_NAME, read_config
from .checkpoint.io import load_dir
from .checkpoint.resolve import entry_from_config
from .errors import ZooError
from .fileio import sha256_file
from .frameworks import FRAMEWORKS, canonical_framework, import_torch, is_installed
from .torch2keras import builders as timm_builders
from .torch2keras import timm_models

LOAD_KEYWORDS = ("num_classes", "in_chans", "input_size", "strict", "weights", "pretrained", "token", "endpoint")


def _name(caller: str, name: Any) -> str:
    """A model name, checkpoint path or Hub handle as a string (a PathLike is accepted), else a ZooError."""
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if not isinstance(name, str) or not name:
        raise ZooError(f"{caller} takes a model name, a checkpoint directory or a hf:// handle, got {name!r}; run "
                       "`zoo list` to see the model names")
    return name


def _is_path(name: str) -> bool:
    return os.sep in name or "/" in name or os.path.isdir(name)


def load(name_or_path: str, framework: str = "torch", *, num_classes: int | None = None,
         in_chans: int | None = None, input_size: tuple[int, int] | int | None = None, strict: bool = True,
         weights: str | None = None, pretrained: bool | None = None, token: str | None = None,
         endpoint: str | None = None, **config: Any) -> Any:
    """Load a model as a plain ``torch.nn.Module`` or ``keras.Model``.

    ``name_or_path``: a registry name or alias (random init), a checkpoint directory (zoo or timm layout), or a
    Hub handle ``hf://owner/repo[@revision]``. ``framework``: torch / pytorch / pt, or tf / tensorflow / keras.
    Torch models take NCHW input, Keras models NHWC. ``num_classes``, ``in_chans`` and ``input_size`` override
    the registry entry; extra keywords override its config. For a checkpoint, a different ``num_classes``
    re-initialises only the head. ``weights="default"`` loads the Hub weights a registry entry names (pinned
    revision, sha256 checked). ``pretrained=True``: for ``timm:NAME[.TAG]`` the Hub repo ``timm/NAME.TAG`` (timm's
    default tag when none is given; a tag implies ``pretrained``), loaded by timm's own loader and converted for
    Keras, ImageNet heads with their class names; for a registry entry the same as ``weights="default"``.
    ``token``/``endpoint`` override huggingface_hub's settings for Hub downloads.
    """
    canonical_framework(framework)
    name_or_path = _name("zoo.load()", name_or_path)
    if pretrained not in (None, True, False):
        raise ZooError(f"pretrained must be True or False, got {pretrained!r}")
    if pretrained and weights is not None:
        raise ZooError("pass pretrained=True or weights=, not both")
    if pretrained and (_is_path(name_or_path) or name_or_path.startswith("hf://")):
        raise ZooError(f"pretrained=True is for model names; {name_or_path!r} is a checkpoint or Hub handle, which "
                       "has its weights already: drop pretrained=")
    if not _is_path(name_or_path) and not name_or_path.startswith("hf://") and pretrained is not False:
        entry = models.get_entry(name_or_path)
        if entry.architecture.startswith(timm_models.PREFIX):
            if pretrained or timm_models.split_tag(entry.name)[1]:
                return _timm_pretrained(entry, framework, num_classes=num_classes, in_chans=in_chans,
                                        input_size=input_size, config=config, token=token, endpoint=endpoint)
        elif pretrained:
            weights = "default"
    if weights is not None and not name_or_path.startswith("hf://"):
        if weights != "default":
            raise ZooError(f"weights={weights!r}: use weights='default' (the registry's Hub weights) or a hf:// handle")
        entry = models.get_entry(name_or_path)
        if entry.weights is None:
            raise ZooError(f"model {entry.name!r} has no weights in the registry ({entry.source}); "
                           "load it without weights= for random init, or from a checkpoint directory or hf:// handle")
        path = hub.pull(entry.weights.repo, revision=entry.weights.revision, token=token, endpoint=endpoint)
        if entry.weights.sha256 and sha256_file(path / WEIGHTS_NAME) != entry.weights.sha256:
            raise ZooError(f"the weights of {entry.name!r} at hf://{entry.weights.repo}@{entry.weights.revision} do "
                           f"not match the sha256 in the registry ({entry.source}); the repo changed or is corrupt")
        name_or_path = str(path)
    if name_or_path.startswith("hf://"):
        name_or_path = str(hub.pull(name_or_path, token=token, endpoint=endpoint))
    if _is_path(name_or_path):
        if in_chans is not None or input_size is not None or config:
            close = [m for k in config for m in difflib.get_close_matches(k, LOAD_KEYWORDS, n=1, cutoff=0.6)]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ZooError(f"a checkpoint fixes in_chans, input_size and config{hint}; only num_classes can be "
                           "changed")
        return load_dir(name_or_path, framework, num_classes=num_classes, strict=strict)
    entry = models.get_entry(name_or_path)
    return models.build(entry, framework, num_classes=num_classes, in_chans=in_chans, input_size=input_size,
                        config=config or None, keywords=LOAD_KEYWORDS)


def _timm_pretrained(entry: Any, framework: str, *, num_classes: int | None, in_chans: int | None,
                     input_size: tuple[int, int] | int | None, config: dict[str, Any], token: str | None,
                     endpoint: str | None) -> Any:
    """``timm:NAME[.TAG]`` with the weights of the Hub repo ``timm/NAME.TAG`` (timm's layout: config.json +
    model.safetensors), in either framework; the head keeps its class names when it is kept."""
    fw = canonical_framework(framework)
    repo = timm_models.hub_repo(entry.name)
    folder = hub.pull(repo, token=token, endpoint=endpoint)
    cfg = read_config(folder)
    found = timm_models.checkpoint_entry(entry.name, cfg, f"hf://{repo}")
    built = models.specialise(found, num_classes=num_classes, in_chans=in_chans, input_size=input_size,
                              config=config or None)
    backends.get(fw)  # the framework is installed (timm and torch are needed either way: imported below)
    spec = BuildSpec.from_entry(built)
    model = timm_builders.build_torch(spec, weights=folder / WEIGHTS_NAME, pretrained_cfg=cfg.get("pretrained_cfg"))
    if fw == "tf":
        model = timm_builders.build_keras(spec, torch_model=model)
    models.attach(model, built, fw)
    labels = timm_models.class_names(cfg, built.num_classes) if built.num_classes == found.num_classes else None
    if labels:
        model.zoo_labels = labels
    return model


def model_info(name: str, *, params: bool = False) -> dict[str, Any]:
    """The registry entry as a dict, plus its architecture's stages and frameworks; with ``params`` the learnable
    parameter count per installed framework (see :func:`count_params`)."""
    name = _name("zoo.model_info()", name)
    if name.startswith("hf://") or _is_path(name):
        path = str(hub.pull(name)) if name.startswith("hf://") else name
        entry = entry_from_config(read_config(path), Path(path))
    else:
        entry = models.get_entry(name)
    info: dict[str, Any] = entry.to_dict()
    arch = plugins.get_architecture(entry.architecture)
    info["available"] = arch is not None
    if arch is None:
        info["unavailable_reason"] = models.missing_reason(entry)
        return info
    info["stages"] = list(arch.stages)
    info["frameworks"] = list(arch.frameworks)
    info["plugin"] = plugins.state().provider.get(arch.name)
    if params:
        info["params"] = count_params(entry, arch)
    return info


def count_params(entry: Any, arch: Any) -> dict[str, int]:
    """Learnable parameters per installed framework of an entry, without allocating its weights: the torch model is
    built on torch's meta device (shapes only: ResNet-50 in a fraction of a second, no memory), and the Keras count
    is that same number, since the plugin contract (``check_architecture``'s param_parity) requires both frameworks
    to count the same. Without torch, the Keras model is built."""
    frameworks = [fw for fw in FRAMEWORKS if fw in arch.frameworks and is_installed(fw)]
    if "torch" in frameworks:
        torch = import_torch()
        try:
            with torch.device("meta"):
                count = backends.get("torch").count_params(models.build(entry, "torch"))
            return {fw: count for fw in frameworks}
        except (NotImplementedError, RuntimeError):  # a builder that computes on its weights: build them
            pass
    return {fw: backends.get(fw).count_params(models.build(entry, fw)) for fw in frameworks}
