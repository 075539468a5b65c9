"""``open_dataset(source)``: every data source by the name the command line takes (``--data``).

- ``mnist5k`` / ``builtin:digits``: a built-in dataset; a folder: an image folder (:mod:`.datasets`)
- ``labels.csv`` / ``labels.jsonl``: a manifest (:mod:`.manifest`)
- ``shards/train-{000000..000127}.tar`` (or one ``.tar``): WebDataset-style tar shards (:mod:`.shards`)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import DataError
from .datasets import Dataset
from .datasets import open_dataset as open_builtin_or_folder
from .manifest import MANIFEST_SUFFIXES, manifest
from .shards import shards


def open_dataset(source: str | os.PathLike, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0,
                 strict: bool = False, limit: int | None = None) -> Dataset:
    """A dataset from a built-in name, an image folder, a manifest file or a tar shard pattern."""
    text = str(source)
    lower = text.lower()
    kind = "manifest" if lower.endswith(MANIFEST_SUFFIXES) else "shards" if lower.endswith(".tar") else None
    if kind is None:
        return open_builtin_or_folder(source, split=split, seed=seed, strict=strict, limit=limit)
    if limit is not None:
        raise DataError("limit applies to built-in datasets only")
    if kind == "manifest":
        return manifest(text, split=split, seed=seed, strict=strict)
    return shards(text, split=split, seed=seed, strict=strict)
