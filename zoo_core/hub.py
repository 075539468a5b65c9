"""Push zoo checkpoints to a Hugging Face Hub and pull them back: ``push``, ``pull``, ``card``.

A Hub repo of the zoo holds exactly ``model.safetensors``, ``config.json`` (timm keys + the zoo's section, with the
weights' sha256) and ``README.md`` (the model card). The real ``huggingface_hub`` client does the talking: its own
settings (``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HUB_OFFLINE``, the HF cache) apply, and ``endpoint=`` / ``token=``
override them per call. Tokens are never logged nor put in an error message.

    push(model, "alice/cnn", metrics={"accuracy": 0.97, "dataset": "mnist"}, tag="v1.0")
    zoo.load("hf://alice/cnn@v1.0", framework="tf")
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .checkpoint.format import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, read_config
from .checkpoint.io import load_dir, save
from .errors import HubError, ZooError
from .fileio import sha256_file
from .frameworks import is_installed
from .parity import compare

log = logging.getLogger("zoo.hub")

PREFIX = "hf://"
FILES = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]
CARD_MARKER = "<!-- zoo:card -->"
FRAMEWORK_TAGS = ["pytorch", "tensorflow", "keras"]


# --------------------------------------------------------------------------------------------------- handles


def parse_handle(handle: str) -> tuple[str, str | None]:
    """``hf://owner/name@rev`` or ``owner/name[@rev]`` -> (repo_id, revision or None)."""
    text = handle[len(PREFIX):] if handle.startswith(PREFIX) else handle
    repo_id, _, revision = text.partition("@")
    repo_id = repo_id.strip("/")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise HubError(f"{handle!r} is not a Hub handle: expected hf://owner/name or hf://owner/name@revision")
    return repo_id, revision or None


def _endpoint(endpoint: str | None) -> str:
    from huggingface_hub import constants

    return (endpoint or constants.ENDPOINT).rstrip("/")


def _has_token(token: str | bool | None) -> bool:
    if token is False:
        return False
    if token:
        return True
    from huggingface_hub.utils import get_token

    return get_token() is not None


# --------------------------------------------------------------------------------------------------- errors


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _hub_error(exc: BaseException, *, action: str, repo_id: str, revision: str | None, endpoint: str,
               token: str | bool | None) -> HubError:
    """One-line HubError for a client exception (never carries the token)."""
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        IncompleteSnapshotError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    chain = _chain(exc)
    where = f"{repo_id}@{revision}" if revision else repo_id

    def find(*types: type) -> BaseException | None:
        return next((e for e in chain if isinstance(e, types)), None)

    if find(RevisionNotFoundError):
        return HubError(f"{repo_id} at {endpoint} has no revision {revision!r}: check the branch, tag or commit sha "
                        "(list them with HfApi().list_repo_refs)")
    if isinstance(exc, GatedRepoError):
        return HubError(f"{repo_id} at {endpoint} is gated: accept its conditions on the Hub, then pass a token")
    if find(RepositoryNotFoundError):
        hint = "or pass a token (token= or HF_TOKEN) of an account that can read it" if not _has_token(token) else \
            "or use a token (token= or HF_TOKEN) of an account that can read it"
        return HubError(f"no repo {repo_id} at {endpoint}, or it is private: check the name, {hint}")
    if find(OfflineModeIsEnabled) or (constants.HF_HUB_OFFLINE and find(LocalEntryNotFoundError)):
        return HubError(f"HF_HUB_OFFLINE is set and {where} is not in the cache ({constants.HF_HUB_CACHE}): "
                        "unset HF_HUB_OFFLINE and download it once")
    if isinstance(exc, IncompleteSnapshotError):
        return HubError(f"hub unreachable at {endpoint} and the cached snapshot of {where} is incomplete: "
                        "check HF_ENDPOINT or the network and retry")
    if find(httpx2.ConnectError, httpx2.TimeoutException, ConnectionRefusedError, TimeoutError):
        return HubError(f"hub unreachable at {endpoint}; check HF_ENDPOINT or the network, or set HF_HUB_OFFLINE=1 "
                        "to use the cache")
    if find(httpx2.TransportError, ConnectionError):
        return HubError(f"download of {where} from {endpoint} was interrupted and the client gave up after its "
                        "retries; no partial file was kept: retry")
    if find(EntryNotFoundError):
        return HubError(f"{where} at {endpoint} lacks a file the zoo needs ({CONFIG_NAME}, {WEIGHTS_NAME}): "
                        "is it a zoo or timm model repo?")
    http = find(HfHubHTTPError)
    if http is not None and getattr(http, "response", None) is not None:
        status = http.response.status_code
        if status == 401:
            if not _has_token(token):
                return HubError(f"{action} {repo_id} at {endpoint} needs a token: pass token= or set HF_TOKEN "
                                "(or run `hf auth login`)")
            return HubError(f"the Hub at {endpoint} rejected the token (401: invalid or expired): check token= or "
                            "HF_TOKEN")
        if status == 403:
            return HubError(f"the token's account has no write access to {repo_id} at {endpoint} (403): use a "
                            "token of its owner, or of an org member with write rights")
        message = (getattr(http, "server_message", None) or "").replace("\n", " ").strip()
        return HubError(f"{action} {where} at {endpoint} failed: the Hub answered {status}"
                        + (f" ({message})" if message else ""))
    text = str(exc).splitlines()[0] if str(exc) else ""
    return HubError(f"{action} {where} at {endpoint} failed: {type(exc).__name__}: {text}")


# --------------------------------------------------------------------------------------------------- model card


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def read_metrics(path: str | Path) -> dict[str, Any]:
    """The metrics of a JSON file for a model card (e.g. report.json): its finite numbers at the top level, plus a
    ``"dataset"`` name; ZooError when the file is missing, not a JSON object, or holds no number."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"--metrics {path} does not exist; give a JSON file of metrics such as a run's report.json") \
            from None
    except (OSError, ValueError, RecursionError) as exc:
        reason = " ".join(str(getattr(exc, "strerror", None) or exc).split())[:200]
        raise ZooError(f"--metrics {path} is not valid JSON ({reason}); give a JSON object such as "
                       '{"accuracy": 0.97}') from None
    if not isinstance(raw, dict):
        raise ZooError(f"--metrics {path} is not a JSON object (it holds a {type(raw).__name__}); give one such as "
                       '{"accuracy": 0.97}')
    metrics: dict[str, Any] = {k: v for k, v in raw.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                               and math.isfinite(v)}
    if not metrics:
        raise ZooError(f"--metrics {path} holds no numeric metric at its top level; give one such as "
                       '{"accuracy": 0.97}')
    if isinstance(raw.get("dataset"), str):
        metrics["dataset"] = raw["dataset"]
    return metrics


def card(config: Mapping[str, Any], *, repo_id: str, metrics: Mapping[str, Any] | None = None,
         parity: float | str | None = None, license: str | None = None,  # noqa: A002 - the Hub's field name
         datasets: Sequence[str] | str | None = None) -> str:
    """The model card (README.md) of a checkpoint: YAML front matter the Hub parses, then usage and facts.

    ``metrics``: name -> value, plus an optional ``"dataset"`` (name) evaluated on; they go to ``model-index``.
    ``parity``: max |Δlogits| between torch and tf for these weights, or a reason it was not measured.
    """
    from huggingface_hub import EvalResult, ModelCardData

    zoo_cfg = config.get("zoo") or {}
    pcfg = config.get("pretrained_cfg") or {}
    arch = zoo_cfg.get("architecture") or str(config.get("architecture", "unknown")).split(".")[0]
    name = repo_id.split("/")[-1]
    if isinstance(datasets, str):
        datasets = [datasets]
    metrics = dict(metrics or {})
    eval_dataset = metrics.pop("dataset", None) or (datasets[0] if datasets else None)
    license = license or zoo_cfg.get("license") or pcfg.get("license")
    eval_results = [
        EvalResult(task_type="image-classification", task_name="Image Classification",
                   dataset_type=eval_dataset or "unknown", dataset_name=eval_dataset or "unknown",
                   metric_type=key, metric_name=key, metric_value=value)
        for key, value in metrics.items()
    ]
    data = ModelCardData(
        library_name="zoo", license=license, datasets=list(datasets) if datasets else None,
        pipeline_tag="image-classification", tags=["image-classification", *FRAMEWORK_TAGS, "zoo", arch],
        model_name=name if eval_results else None, eval_results=eval_results or None,
    )

    in_chans = zoo_cfg.get("in_chans") or (pcfg.get("input_size") or [None])[0]
    size = zoo_cfg.get("input_size") or (pcfg.get("input_size") or [None, None, None])[1:]
    mean, std = zoo_cfg.get("mean", pcfg.get("mean")), zoo_cfg.get("std", pcfg.get("std"))
    interpolation = zoo_cfg.get("interpolation", pcfg.get("interpolation"))
    crop_pct, crop_mode = zoo_cfg.get("crop_pct", pcfg.get("crop_pct")), zoo_cfg.get("crop_mode", pcfg.get("crop_mode"))
    num_classes = config.get("num_classes", zoo_cfg.get("num_classes"))
    saved_from = zoo_cfg.get("saved_from", "timm")

    lines = [
        CARD_MARKER,
        f"# {name}",
        "",
        f"A `{arch}` image classifier ({num_classes} classes) for the zoo model zoo, saved "
        f"from {saved_from}. The same weights load as a PyTorch `nn.Module` or a Keras `Model`.",
        "",
        "## Usage",
        "",
        "```python",
        "import zoo_core as zoo",
        "",
        f'model = zoo.load("hf://{repo_id}", framework="torch")  # torch.nn.Module, NCHW input',
        f'model = zoo.load("hf://{repo_id}", framework="tf")     # keras.Model, NHWC input',
        "```",
        "",
        "## Preprocessing",
        "",
        f"- input: {in_chans} × {size[0]} × {size[1]} (channels × height × width)" if size else "- input: unknown",
        f"- normalisation: mean {mean}, std {std} (on 0..1 pixel values)",
        f"- resize interpolation: {interpolation}; crop: {crop_mode or 'center'} with crop_pct {crop_pct}",
        "",
    ]
    labels = config.get("label_names")
    lines += ["## Labels", ""]
    if labels:
        shown = ", ".join(f"{i}: {label}" for i, label in enumerate(labels[:100]))
        lines.append(shown + (f", … ({len(labels)} in all, see config.json)" if len(labels) > 100 else ""))
    else:
        lines.append(f"No label names recorded: outputs are class indices 0..{int(num_classes or 1) - 1}.")
    lines.append("")
    if metrics:
        lines += ["## Evaluation", "", f"Dataset: {eval_dataset or 'not stated'}", "", "| metric | value |",
                  "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
        lines.append("")
    lines += ["## Cross-framework parity", ""]
    if isinstance(parity, (int, float)) and math.isfinite(parity):
        lines.append(f"Max |Δlogits| between PyTorch and TensorFlow for these weights: {parity:.3g} (measured at "
                     "push time with `zoo_core.parity.compare` on a random batch; the zoo's tolerance is 1e-4).")
    else:
        lines.append("Max |Δlogits| between PyTorch and TensorFlow: not measured"
                     + (f" ({parity})." if parity else "."))
    lines.append("")
    return f"---\n{data.to_yaml()}\n---\n" + "\n".join(lines)


def measure_parity(path: str | Path) -> float | str:
    """Max |Δlogits| of a checkpoint loaded in torch and in tf, or why it could not be measured."""
    missing = [fw for fw in ("torch", "tf") if not is_installed(fw)]
    if missing:
        return f"{' and '.join(missing)} not installed"
    try:
        return float(compare(load_dir(path, "torch"), load_dir(path, "tf"))[0])
    except ZooError as exc:
        return str(exc).splitlines()[0]


# --------------------------------------------------------------------------------------------------- push / pull


def _existing_card(api: Any, repo_id: str, revision: str | None, tmp: Path) -> str | None:
    """The repo's README.md text at ``revision``, or None."""
    from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError

    try:
        if CARD_NAME not in api.list_repo_files(repo_id, revision=revision):
            return None
        file = api.hf_hub_download(repo_id, CARD_NAME, revision=revision, local_dir=tmp / "existing")
    except (EntryNotFoundError, RevisionNotFoundError):
        return None
    return Path(file).read_text(encoding="utf-8", errors="replace")


def push(model_or_dir: Any, repo_id: str, *, private: bool = False, token: str | None = None,
         endpoint: str | None = None, revision: str | None = None, commit_message: str | None = None,
         create_pr: bool = False, tag: str | None = None, metrics: Mapping[str, Any] | None = None,
         labels: list[str] | None = None, license: str | None = None,  # noqa: A002
         datasets: Sequence[str] | str | None = None, overwrite_card: bool = False,
         measure: bool = True) -> Any:
    """Upload a zoo model (or a checkpoint directory) to ``repo_id`` as ONE commit; returns the client's CommitInfo.

    The commit holds ``model.safetensors``, ``config.json`` and ``README.md`` (a generated model card). A README.md
    in the repo not written by the zoo is kept unless ``overwrite_card``. ``revision``: the branch to commit to
    (created if missing); ``create_pr`` opens a pull request instead; ``tag`` tags the new commit.
    ``measure=False`` skips the torch/tf parity measurement written into the card.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    url = _endpoint(endpoint)
    api = HfApi(endpoint=endpoint, token=token, library_name="zoo")
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "ckpt"
        if isinstance(model_or_dir, (str, Path)):
            given = Path(model_or_dir)
            config = read_config(given)
            if not (given / WEIGHTS_NAME).is_file():
                raise HubError(f"{given} has no {WEIGHTS_NAME}: push a zoo model or a checkpoint directory")
            src.mkdir()
            (src / WEIGHTS_NAME).symlink_to((given / WEIGHTS_NAME).resolve())
            expected = (config.get("zoo") or {}).get("sha256")
            if expected and sha256_file(src / WEIGHTS_NAME) != expected:
                raise HubError(f"{given / WEIGHTS_NAME} does not match the sha256 in its {CONFIG_NAME}: "
                               "re-save the checkpoint before pushing it")
            if labels is not None:
                if len(labels) != config.get("num_classes", len(labels)):
                    raise HubError(f"{len(labels)} label names for a model with {config['num_classes']} classes")
                config["label_names"] = list(labels)
            (src / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        else:
            save(model_or_dir, src, labels=labels)
            config = read_config(src)

        parity = measure_parity(src) if measure else "skipped at push time"
        text = card(config, repo_id=repo_id, metrics=metrics, parity=parity, license=license, datasets=datasets)
        (src / CARD_NAME).write_text(text, encoding="utf-8")

        try:
            if tag:
                _check_tag_free(api, repo_id, tag, url)
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision and revision != "main":
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            files = [CONFIG_NAME, WEIGHTS_NAME]
            existing = _existing_card(api, repo_id, revision, tmp)
            if existing is not None and CARD_MARKER not in existing and not overwrite_card:
                log.warning("kept the README.md of %s: it was not written by the zoo (pass overwrite_card=True to "
                            "replace it with the generated card)", repo_id)
            else:
                if existing is not None and CARD_MARKER not in existing:
                    log.warning("replacing the hand-written README.md of %s (overwrite_card=True)", repo_id)
                files.append(CARD_NAME)
            operations = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(src / f)) for f in files]
            name = (config.get("zoo") or {}).get("name") or config.get("architecture", "model")
            info = api.create_commit(repo_id, operations=operations, revision=revision, create_pr=create_pr or None,
                                     commit_message=commit_message or f"Upload {name} with zoo")
            if tag:
                api.create_tag(repo_id, tag=tag, revision=info.oid)
        except HubError:
            raise
        except Exception as exc:
            raise _hub_error(exc, action="pushing to", repo_id=repo_id, revision=revision, endpoint=url,
                             token=token) from None
    log.info("pushed %s to %s/%s (commit %s%s)", ", ".join(files), url, repo_id, info.oid[:12],
             f", tag {tag}" if tag else "")
    return info


def _check_tag_free(api: Any, repo_id: str, tag: str, url: str) -> None:
    """Refuse a tag the repo already has before anything is uploaded (not after the commit has landed)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        tags = {t.name: t.target_commit for t in api.list_repo_refs(repo_id).tags}
    except RepositoryNotFoundError:
        return  # a new repo has no tags
    if tag in tags:
        raise HubError(f"{repo_id} at {url} already has the tag {tag!r} (commit {tags[tag][:12]}); nothing was "
                       "pushed: choose another tag, or delete that one first")


# the folder huggingface_hub keeps in a local_dir it downloaded into: a pull's own output
_LOCAL_DIR_METADATA = Path(".cache") / "huggingface"


def _check_pull_target(local_dir: Path, overwrite: bool) -> None:
    """A pull lands in an empty or new folder, or one an earlier pull made; anything else only with overwrite."""
    if not local_dir.exists():
        return
    if not local_dir.is_dir():
        raise HubError(f"--to {local_dir} is a file; give a directory")
    if overwrite or (local_dir / _LOCAL_DIR_METADATA).is_dir() or not any(local_dir.iterdir()):
        return
    held = sorted(p.name for p in local_dir.iterdir())
    raise HubError(f"{local_dir} already holds files the zoo did not pull there ({', '.join(held[:4])}"
                   f"{', ...' if len(held) > 4 else ''}); a pull would replace its model.safetensors and config.json: "
                   "choose a new or empty folder, or pass overwrite=True (--overwrite)")


def pull(handle: str, *, revision: str | None = None, token: str | None = None, endpoint: str | None = None,
         local_dir: str | Path | None = None, force_download: bool = False,
         cache_dir: str | Path | None = None, overwrite: bool = False) -> Path:
    """Download a model repo's config.json, model.safetensors and README.md; return the local snapshot directory.

    ``handle``: ``hf://owner/name[@revision]`` or ``owner/name``; ``revision`` (branch, tag or commit sha) wins
    over the handle's. Files go to the HF cache (or ``local_dir``); with HF_HUB_OFFLINE=1 they come from it. The
    weights are checked against the sha256 in config.json. ``local_dir`` must be new, empty or an earlier pull's
    folder, unless ``overwrite``: a pull never replaces files it did not download.
    """
    from huggingface_hub import snapshot_download

    repo_id, handle_rev = parse_handle(handle)
    revision = revision or handle_rev
    url = _endpoint(endpoint)
    if local_dir is not None:
        _check_pull_target(Path(local_dir), overwrite)
    try:
        folder = Path(snapshot_download(repo_id, revision=revision, token=token, endpoint=endpoint,
                                        local_dir=local_dir, cache_dir=cache_dir, force_download=force_download,
                                        allow_patterns=FILES, library_name="zoo", library_version=__version__))
    except Exception as exc:
        raise _hub_error(exc, action="downloading", repo_id=repo_id, revision=revision, endpoint=url,
                         token=token) from None
    where = f"{repo_id}@{revision}" if revision else repo_id
    if not (folder / CONFIG_NAME).is_file():
        raise HubError(f"{where} at {url} has no {CONFIG_NAME}: it is not a zoo or timm model repo")
    if not (folder / WEIGHTS_NAME).is_file():
        raise HubError(f"{where} at {url} has no {WEIGHTS_NAME} (the zoo loads safetensors weights only)")
    expected = (read_config(folder).get("zoo") or {}).get("sha256")
    if expected:
        digest = sha256_file(folder / WEIGHTS_NAME)
        if digest != expected:
            raise HubError(
                f"{folder / WEIGHTS_NAME}: sha256 {digest[:16]}… does not match {expected[:16]}… in {CONFIG_NAME}; the "
                f"download is corrupt: re-download it with zoo.hub.pull({handle!r}, force_download=True)"
            )
    log.info("pulled %s from %s to %s", where, url, folder)
    return folder


__all__ = ["CARD_MARKER", "HubError", "card", "measure_parity", "parse_handle", "pull", "push"]
