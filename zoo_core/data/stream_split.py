"""Tar shards as streamed splits for training and evaluation (``open_dataset(pattern, stream=True)``,
``zoo train --data 'shards/train-{000000..000127}.tar' --stream``).

A sample belongs to train, val or test by a seeded hash of its key (stable whatever the order or the shard it
sits in, so no scan of the whole set is needed to split it). Opening the shards reads their tar headers and the
small ``.cls`` members once, to count each split's samples per shard and find the classes; images are read only
while an epoch streams, front to back, each rank reading its own shards (:meth:`StreamSplit.samples`), through a
bounded shuffle buffer of encoded samples (memory bounded by the buffer, not by the data).

:class:`StreamBatches` is the loaders' :class:`~zoo_core.data.loader.Batches` for such a split, so both training
loops and evaluation stream it unchanged. Each rank gets ceil(n / world) samples an epoch (the same number of steps
on every rank, as the indexed loader pads): a rank whose shards hold fewer reads its stream again to fill up, one
that holds more stops there. Decoding and transforming run on ``threads`` threads of the process (Pillow and numpy
release the GIL); ``start=k`` resumes an epoch at batch k by skipping k batches of encoded samples, undecoded.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..layout import to_layout
from .augment import Augment, item_rng
from .datasets import SPLIT_NAMES, Dataset, _check_fractions, note_skipped
from .mix import Mix
from .preprocess import Preprocess
from .shards import expand, shard_samples
from .stream import Sample, shuffled, slot_samples
from .transforms import train_pixels

BUCKETS = 1 << 20
Made = tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]  # a batch, its labels, (file, reason) skipped


def part_of(key: str, fractions: Sequence[float], seed: int) -> int:
    """0 (train), 1 (val) or 2 (test) for a sample key: a seeded hash of the key against the split fractions."""
    bucket = zlib.crc32(f"{seed}\0{key}".encode()) % BUCKETS
    edges = np.cumsum(np.asarray(fractions, np.float64)) * BUCKETS
    return min(int(np.searchsorted(edges, bucket, side="right")), 2)


def _scan(path: str, fractions: Sequence[float], seed: int) -> tuple[list[int], int]:
    """([train, val, test] sample counts, largest label) of one shard, from its headers and ``.cls`` members."""
    counts, top = [0, 0, 0], -1
    for key, _, label in shard_samples(path):
        counts[part_of(key, fractions, seed)] += 1
        top = max(top, label)
    return counts, top


@dataclass
class StreamSplit:
    """One split (train, val or test) of streamed tar shards: the shards, this split's sample count in each, the
    classes. ``len()`` is its number of samples; it has no random access (``in_memory`` is False, and
    :func:`zoo_core.data.batches` streams it)."""

    name: str
    shards: list[str]
    counts: list[int]
    classes: list[str]
    fractions: tuple[float, float, float]
    seed: int = 0
    strict: bool = False
    skipped: list[str] = field(default_factory=list)

    in_memory = False

    def __len__(self) -> int:
        return int(sum(self.counts))

    @property
    def part(self) -> int:
        return SPLIT_NAMES.index(self.name)

    def samples(self, slot: int, slots: int, *, seed: int, epoch: int, shuffle: bool) -> Iterator[Sample]:
        """This split's samples that reader ``slot`` of ``slots`` reads in an epoch, in stream order
        (:func:`.stream.slot_samples`, keeping this split's keys)."""
        return (s for s in slot_samples(self.shards, slot, slots, seed=seed, epoch=epoch, shuffle=shuffle)
                if part_of(s.key, self.fractions, self.seed) == self.part)


def stream_dataset(pattern: Any, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0, strict: bool = False,
                   classes: Sequence[str] | None = None) -> Dataset:
    """A :class:`Dataset` of :class:`StreamSplit` parts over tar shards (counted from their headers, read as
    streams while training)."""
    fractions = _check_fractions(split)
    paths = expand(pattern)
    per_shard, top = [], -1
    for path in paths:
        counts, shard_top = _scan(path, fractions, seed)
        per_shard.append(counts)
        top = max(top, shard_top)
    if top < 0:
        raise DataError(f"the shards of {pattern} hold no samples; write KEY.jpg + KEY.cls pairs into them")
    names = [str(i) for i in range(top + 1)] if classes is None else [str(c) for c in classes]
    if top >= len(names):
        raise DataError(f"the shards of {pattern} hold label {top}, outside the {len(names)} classes 0.."
                        f"{len(names) - 1}; fix the .cls files or pass the full class list")
    parts = [StreamSplit(name, paths, [c[k] for c in per_shard], names, fractions, int(seed), strict)
             for k, name in enumerate(SPLIT_NAMES)]
    return Dataset(*parts, classes=names, name=Path(paths[0]).parent.name)


@dataclass
class StreamBatches:
    """The batches of a :class:`StreamSplit` for one or more epochs, with :class:`~.loader.Batches`'s interface
    (``len()``, :meth:`epoch`, ``next_epoch``, :meth:`close`, ``iter()``)."""

    split: StreamSplit
    pre: Preprocess
    augment: Augment | None
    seed: int
    layout: str
    batch_size: int
    shuffle: bool
    shard: tuple[int, int]
    mix: Mix | None
    epochs: range
    start: int = 0
    threads: int = 1
    shuffle_buffer: int = 1000

    def __post_init__(self) -> None:
        rank, world = self.shard
        if world < 1 or not 0 <= rank < world:
            raise DataError(f"shard must be (rank, world) with 0 <= rank < world, got {tuple(self.shard)}")
        self.per_rank = -(-len(self.split) // world)  # every rank the same number of samples, hence of steps
        self.per_epoch = -(-self.per_rank // self.batch_size)
        self._next: int | None = self.epochs[0]
        self._pool: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        return max(self.per_epoch - self.start, 0)

    @property
    def next_epoch(self) -> int | None:
        return self._next

    def _encoded(self, epoch: int) -> Iterator[Sample]:
        """This rank's ``per_rank`` encoded samples of an epoch: its stream shuffled through the buffer, read
        again (with fresh draws) while it has fewer."""
        rank, world = self.shard
        taken, rounds = 0, 0
        while taken < self.per_rank:
            stream = self.split.samples(rank, world, seed=self.seed, epoch=epoch, shuffle=self.shuffle)
            if self.shuffle:
                stream = shuffled(stream, self.shuffle_buffer, np.random.default_rng((self.seed, epoch, rank, rounds)))
            got = 0
            for s in stream:
                yield s
                got, taken = got + 1, taken + 1
                if taken == self.per_rank:
                    return
            if got == 0:
                raise DataError(f"rank {rank} of {world} reads no samples of the {self.split.name} split; use "
                                "fewer ranks or more shards")
            rounds += 1

    def _make(self, job: tuple[int, int, list[Sample], int]) -> Made:
        epoch, number, samples, first = job
        rank, world = self.shard
        images, labels, skipped = [], [], []
        for k, s in enumerate(samples):
            if not 0 <= s.label < len(self.split.classes):
                raise DataError(f"{s.name} has label {s.label}, outside the {len(self.split.classes)} classes; fix "
                                "the .cls file or pass the full class list")
            try:
                if self.augment is None:
                    img = self.pre.geometry(s.image)
                else:
                    img = train_pixels(self.augment, self.pre, s.image, item_rng(self.seed, epoch,
                                                                                 (first + k) * world + rank))
            except DataError as exc:
                reason = str(exc).replace("<image bytes>", s.name)
                if self.split.strict:
                    raise DataError(reason) from None
                skipped.append((s.name, reason))
                continue
            images.append(img)
            labels.append(s.label)
        y = np.asarray(labels, np.int64)
        if self.mix is None:
            return self.pre.stack(images, self.layout), y, skipped
        x, y = self.mix(self.pre.stack(images, "NHWC"), y, len(self.split.classes),
                        np.random.default_rng((self.seed, epoch, number, 7)))
        return to_layout(x, self.layout), y, skipped

    def _jobs(self, epoch: int, start: int) -> Iterator[tuple[int, int, list[Sample], int]]:
        chunk: list[Sample] = []
        number, first = 0, 0
        for s in self._encoded(epoch):
            chunk.append(s)
            if len(chunk) == self.batch_size:
                if number >= start:
                    yield epoch, number, chunk, first
                number, first, chunk = number + 1, first + len(chunk), []
        if chunk and number >= start:
            yield epoch, number, chunk, first

    def epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of ``epoch`` (epochs in order, each to its end)."""
        if epoch != self._next or epoch not in self.epochs:
            raise DataError(f"epoch {epoch} asked for, but this loader's next epoch is {self._next}; take the "
                            "epochs in order, each to its end")
        self._next = None
        start = self.start if epoch == self.epochs[0] else 0
        if self._pool is None and self.threads > 1:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="zoo-stream")
        pending: deque = deque()
        jobs = self._jobs(epoch, start)
        for job in jobs:
            if self._pool is None:
                yield from self._emit(self._make(job))
                continue
            pending.append(self._pool.submit(self._make, job))
            if len(pending) > self.threads:
                yield from self._emit(pending.popleft().result())
        while pending:
            yield from self._emit(pending.popleft().result())
        self._next = epoch + 1

    def _emit(self, made: Made) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        x, y, skipped = made
        for name, reason in skipped:
            note_skipped(self.split, name, reason)
        if len(y):
            yield x, y

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        try:
            yield from self.epoch(self.epochs[0])
        finally:
            self.close()
