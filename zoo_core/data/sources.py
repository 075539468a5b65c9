"""``open_dataset(source)``: every data source by the name the command line takes (``--data``).

- ``mnist5k`` / ``builtin:digits``: a built-in dataset; a folder: an image folder (:mod:`.datasets`)
- ``labels.csv`` / ``labels.jsonl``: a manifest (:mod:`.manifest`)
- ``shards/train-{000000..000127}.tar`` (or one ``.tar``): WebDataset-style tar shards, indexed (:mod:`.shards`;
  a global shuffle, random access) or with ``stream=True`` read front to back (:mod:`.stream_split`)
- ``hf://datasets/OWNER/NAME[@REV]``, or a ``datasets.Dataset`` / ``DatasetDict`` object: a Hub dataset
  (:mod:`.hfdatasets`)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..errors import DataError
from .datasets import Dataset
from .datasets import open_dataset as open_builtin_or_folder
from .hfdatasets import PREFIX as HF_PREFIX
from .hfdatasets import hf_dataset
from .manifest import MANIFEST_SUFFIXES, manifest
from .shards import shards
from .stream_split import stream_dataset


def open_dataset(source: Any, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0,
                 strict: bool = False, limit: int | None = None, stream: bool = False) -> Dataset:
    """A dataset from a built-in name, an image folder, a manifest file, a tar shard pattern, a Hub dataset handle
    or a ``datasets.Dataset`` / ``DatasetDict``. ``stream=True`` (tar shards only): the shards are read as
    streams while training, each sample in train/val/test by a seeded hash of its key."""
    if stream and not (isinstance(source, (str, os.PathLike)) and str(source).lower().endswith(".tar")):
        raise DataError(f"stream applies to tar shards (a .tar path or pattern), not {source!s:.80}; leave it off "
                        "for other sources")
    if not isinstance(source, (str, os.PathLike)):
        if type(source).__module__.split(".")[0] != "datasets":
            raise DataError(f"cannot open a {type(source).__name__} as a dataset; give a name, a path, an "
                            "hf://datasets/ handle or a datasets.Dataset")
        return hf_dataset(source, split=split, seed=seed, strict=strict)
    text = str(source)
    if text.startswith(HF_PREFIX):
        if limit is not None:
            raise DataError("limit applies to built-in datasets only")
        return hf_dataset(text, split=split, seed=seed, strict=strict)
    lower = text.lower()
    kind = "manifest" if lower.endswith(MANIFEST_SUFFIXES) else "shards" if lower.endswith(".tar") else None
    if kind is None:
        return open_builtin_or_folder(source, split=split, seed=seed, strict=strict, limit=limit)
    if limit is not None:
        raise DataError("limit applies to built-in datasets only")
    if kind == "manifest":
        return manifest(text, split=split, seed=seed, strict=strict)
    if stream:
        return stream_dataset(text, split=split, seed=seed, strict=strict)
    return shards(text, split=split, seed=seed, strict=strict)
