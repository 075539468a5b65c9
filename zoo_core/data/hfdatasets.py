"""Datasets from the Hugging Face Hub through the ``datasets`` library: ``hf://datasets/OWNER/NAME[@REV]`` or a
``datasets.Dataset`` / ``DatasetDict`` object.

The image column is the feature of type ``datasets.Image``, the label column the ``ClassLabel`` feature (its names
are the classes). Images stay in the dataset's memory-mapped Arrow files: a split holds a lazy
:class:`HubImages` sequence of encoded ``{"bytes", "path"}`` cells, decoded when a loader reads them (so memory
stays bounded and undecodable cells are skipped and named as for files). A DatasetDict's ``train``,
``validation``/``val`` and ``test`` splits are used as given; a single Dataset (or a DatasetDict with ``train``
only) is split by fractions, stratified and seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .datasets import SPLIT_NAMES, Dataset, Split, split_indices

PREFIX = "hf://datasets/"
SPLIT_ALIASES = {"train": ("train",), "val": ("validation", "val", "valid", "dev"), "test": ("test",)}


def parse_dataset_handle(handle: str) -> tuple[str, str | None]:
    """``hf://datasets/owner/name[@rev]`` -> (repo_id, revision or None)."""
    repo_id, _, revision = handle[len(PREFIX):].partition("@")
    repo_id = repo_id.strip("/")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise DataError(f"{handle!r} is not a Hub dataset handle: write hf://datasets/OWNER/NAME or "
                        "hf://datasets/OWNER/NAME@REVISION")
    return repo_id, revision or None


class HubImages(Sequence):
    """The encoded image cells of one split of a Hub dataset, read on indexing (picklable: the Arrow table is
    memory-mapped from the datasets cache, so loader workers share it instead of copying it)."""

    def __init__(self, table: Any, column: str, name: str):
        import datasets

        self.table = table.select_columns([column]).cast_column(column, datasets.Image(decode=False))
        self.column, self.name = column, name

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        cell = dict(self.table[int(i)][self.column] or {})
        cell["path"] = f"{self.name}[{int(i)}]" + (f" ({cell['path']})" if cell.get("path") else "")
        return cell


def _columns(features: Any, where: str) -> tuple[str, str, list[str]]:
    """(image column, label column, class names) from a dataset's features."""
    import datasets

    images = [k for k, f in features.items() if isinstance(f, datasets.Image)]
    labels = [k for k, f in features.items() if isinstance(f, datasets.ClassLabel)]
    have = ", ".join(f"{k} ({type(f).__name__})" for k, f in features.items()) or "none"
    if not images:
        raise DataError(f"{where} has no image column (a datasets.Image feature); it has {have}: cast the image "
                        "column with ds.cast_column('image', datasets.Image())")
    if not labels:
        raise DataError(f"{where} has no label column (a datasets.ClassLabel feature); it has {have}: cast the label "
                        "column with ds.cast_column('label', datasets.ClassLabel(names=[...]))")
    return images[0], labels[0], list(labels and features[labels[0]].names)


def _labels(table: Any, column: str, classes: list[str], where: str) -> np.ndarray:
    y = np.asarray(table[column], np.int64) if len(table) else np.zeros(0, np.int64)
    bad = np.flatnonzero((y < 0) | (y >= len(classes)))
    if len(bad):
        raise DataError(f"{where} row {int(bad[0])} has label {int(y[bad[0]])}, outside the {len(classes)} classes "
                        f"0..{len(classes) - 1}; fix or drop the row (ds.filter) before training")
    return y


def _named_splits(obj: Any) -> dict[str, Any]:
    """{train/val/test: datasets.Dataset} of a DatasetDict (aliases such as ``validation`` mapped)."""
    out = {}
    for ours, names in SPLIT_ALIASES.items():
        found = next((n for n in names if n in obj), None)
        if found is not None:
            out[ours] = obj[found]
    if "train" not in out:
        raise DataError(f"the dataset has splits {', '.join(obj) or 'none'} but no train split; name one 'train' "
                        "(and optionally 'validation' and 'test')")
    return out


def hf_dataset(source: Any, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0, strict: bool = False,
               *, token: str | None = None, name: str | None = None) -> Dataset:
    """A :class:`Dataset` from a ``datasets.Dataset`` / ``DatasetDict`` or a ``hf://datasets/OWNER/NAME[@REV]``
    handle (downloaded with ``datasets.load_dataset``, cached by it)."""
    import datasets

    if isinstance(source, str):
        repo_id, revision = parse_dataset_handle(source)
        name = name or repo_id
        obj = _load(repo_id, revision, token)
    else:
        obj = source
        info = getattr(source, "info", None)
        name = name or getattr(info, "dataset_name", None) or "dataset"
    if isinstance(obj, datasets.DatasetDict):
        parts = _named_splits(obj)
        first = parts["train"]
    elif isinstance(obj, datasets.Dataset):
        parts, first = {"train": obj}, obj
    else:
        raise DataError(f"expected a datasets.Dataset or DatasetDict, got {type(obj).__name__}; load it with "
                        "datasets.load_dataset first (a streaming IterableDataset is not supported)")
    where = f"Hub dataset {name}"
    image_col, label_col, classes = _columns(first.features, where)
    if len(parts) == 1:
        y = _labels(first, label_col, classes, where)
        if len(y) == 0:
            raise DataError(f"{where} has no rows; add images")
        idx = split_indices(y, split, seed)
        splits = [Split(s, HubImages(first.select(i), image_col, f"{name}:{s}"), y[i], classes, strict)
                  for s, i in zip(SPLIT_NAMES, idx, strict=True)]
    else:
        splits = []
        for s in SPLIT_NAMES:
            table = parts.get(s, first.select([]))
            y = _labels(table, label_col, classes, f"{where} split {s}")
            splits.append(Split(s, HubImages(table, image_col, f"{name}:{s}"), y, classes, strict))
    return Dataset(*splits, classes=classes, name=str(name))


def _load(repo_id: str, revision: str | None, token: str | None) -> Any:
    """``datasets.load_dataset`` with the client's errors as one-line DataErrors."""
    import datasets
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    where = f"{repo_id}@{revision}" if revision else repo_id
    endpoint = constants.ENDPOINT
    try:
        return datasets.load_dataset(repo_id, revision=revision, token=token)
    except RevisionNotFoundError:
        raise DataError(f"Hub dataset {repo_id} at {endpoint} has no revision {revision!r}: check the branch, tag "
                        "or commit sha") from None
    except (RepositoryNotFoundError, datasets.exceptions.DatasetNotFoundError):
        raise DataError(f"no Hub dataset {repo_id} at {endpoint}, or it is private: check the name, or pass a token "
                        "(HF_TOKEN) of an account that can read it") from None
    except (HfHubHTTPError, OSError, ConnectionError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise DataError(f"loading Hub dataset {where} from {endpoint} failed ({type(exc).__name__}: {text}); "
                        "check HF_ENDPOINT, the network or the token, and retry") from None
