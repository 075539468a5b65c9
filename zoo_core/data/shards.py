"""WebDataset-style tar shards (``shards/train-{000000..000127}.tar``; each sample ``KEY.jpg`` + ``KEY.cls``) as a
dataset whose items are references into the shards.

The shards are indexed from their tar headers only (Python's ``tarfile`` seeks over the data, nothing is decoded),
then each image's bytes are read by offset when a loader needs them. So a set of local shards is a normal file
split: the seeded global shuffle, resumable order, the torch ``DistributedSampler``-style split across DDP ranks and
tf.distribute workers (no two read the same sample) and the read-time skipping of undecodable images all apply as
to an image folder. Brace patterns are expanded with ``braceexpand`` (the library WebDataset itself uses).
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import SPLIT_NAMES, Dataset, Split, split_indices

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "ppm", "bmp", "tif", "tiff")
LABEL_EXT = "cls"


@dataclass(frozen=True)
class ShardMember:
    """One file inside a tar shard: where its bytes are. Picklable, so DataLoader workers can read it."""

    shard: str
    name: str
    offset: int
    size: int

    def read_bytes(self) -> bytes:
        with open(self.shard, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        if len(data) != self.size:
            raise DataError(f"{self} is cut short ({len(data)} of {self.size} bytes): the shard is truncated; "
                            "re-create it")
        return data

    def __str__(self) -> str:
        return f"{self.shard}:{self.name}"


def expand(pattern: str | os.PathLike | Sequence[str]) -> list[str]:
    """The shard paths of a brace pattern (or a list of patterns), each checked to exist."""
    from braceexpand import braceexpand

    patterns = [str(pattern)] if isinstance(pattern, (str, os.PathLike)) else [str(p) for p in pattern]
    paths = [p for pat in patterns for p in braceexpand(pat)]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise DataError(f"{len(missing)} of {len(paths)} shards do not exist (e.g. {missing[0]}); check the pattern")
    return paths


def index_shard(path: str) -> list[tuple[str, dict[str, tarfile.TarInfo]]]:
    """(key, {extension: member}) per sample of one shard, in the shard's order, from the tar headers."""
    size = os.path.getsize(path)
    if size == 0:
        raise DataError(f"shard {path} is empty; re-create it or leave it out of the pattern")
    samples: dict[str, dict[str, tarfile.TarInfo]] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                base = m.name.rsplit("/", 1)
                stem, dot, ext = base[-1].partition(".")
                if not dot:
                    continue
                key = (base[0] + "/" + stem) if len(base) == 2 else stem
                samples.setdefault(key, {})[ext.lower()] = m
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"shard {path} is truncated or not a readable tar file ({exc}); re-create it or leave it "
                        "out") from None
    for key, files in samples.items():
        for m in files.values():
            if m.offset_data + m.size > size:
                raise DataError(f"shard {path} is truncated inside {key} ({m.name}); re-create it")
    return list(samples.items())


def _label(path: str, key: str, files: dict[str, tarfile.TarInfo]) -> int:
    m = files.get(LABEL_EXT)
    if m is None:
        raise DataError(f"shard {path}: sample {key} has no .{LABEL_EXT} label file; every sample needs KEY.cls")
    text = ShardMember(path, m.name, m.offset_data, m.size).read_bytes().decode("utf-8", "replace").strip()
    try:
        return int(text)
    except ValueError:
        raise DataError(f"shard {path}: {m.name} holds {text[:20]!r}, not a class number") from None


def shard_samples(path: str) -> list[tuple[str, ShardMember, int]]:
    """(key, image member, label) per sample of one shard, from its headers and ``.cls`` members (no image read)."""
    out = []
    for key, files in index_shard(path):
        ext = next((e for e in IMAGE_EXTS if e in files), None)
        if ext is None:
            raise DataError(f"shard {path}: sample {key} has no image ({', '.join(IMAGE_EXTS)}); found "
                            f"{', '.join(sorted(files))}")
        m = files[ext]
        out.append((key, ShardMember(path, m.name, m.offset_data, m.size), _label(path, key, files)))
    return out


def shards(pattern: str | os.PathLike | Sequence[str], split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0,
           strict: bool = False, classes: Sequence[str] | None = None) -> Dataset:
    """A :class:`Dataset` of the samples of tar shards, split by fractions (stratified, seeded). Labels are the
    ``.cls`` class numbers; ``classes`` names them (default "0".."max")."""
    images: list[ShardMember] = []
    labels: list[int] = []
    for path in expand(pattern):
        for _, member, label in shard_samples(path):
            images.append(member)
            labels.append(label)
    if not images:
        raise DataError(f"the shards of {pattern} hold no samples; write KEY.jpg + KEY.cls pairs into them")
    y = np.array(labels, np.int64)
    names = [str(i) for i in range(int(y.max()) + 1)] if classes is None else [str(c) for c in classes]
    bad = np.flatnonzero((y < 0) | (y >= len(names)))
    if len(bad):
        raise DataError(f"{images[bad[0]]} has label {y[bad[0]]}, outside the {len(names)} classes 0.."
                        f"{len(names) - 1}; fix the .cls file or pass the full class list")
    idx = split_indices(y, split, seed)
    parts = [Split(s, [images[j] for j in i], y[i], names, strict) for s, i in zip(SPLIT_NAMES, idx, strict=True)]
    return Dataset(*parts, classes=names, name=Path(str(images[0].shard)).parent.name)
