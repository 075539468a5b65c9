"""WebDataset-style tar shards streamed: read front to back (no index, no seeking: shards on a pipe or a bucket
mount work alike), shuffled through a bounded buffer, dealt out so that no two readers see the same sample.

Readers are (rank, worker) slots: ``world`` DDP ranks / tf.distribute workers times ``workers`` loader workers per
rank. With at least as many shards as slots, each slot reads whole shards (shard i goes to slot i mod slots, after
a seeded shuffle of the shard list per epoch); with fewer shards, every slot reads every shard and keeps the samples
whose position is its own modulo slots. Either way the slots' samples are disjoint and together the whole epoch.
The shuffle buffer holds ``shuffle_buffer`` encoded samples (bytes, not decoded images), so memory is bounded by
the buffer whatever the shards' size. Every random draw is seeded by (seed, epoch, slot), so an epoch is
reproducible and the same in both frameworks.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from ..layout import to_layout
from .augment import Augment, item_rng
from .preprocess import Preprocess
from .shards import IMAGE_EXTS, LABEL_EXT, expand
from .transforms import train_image


@dataclass(frozen=True)
class Sample:
    """One encoded sample of a shard: where it is (for messages), its image bytes and its label."""

    name: str
    image: bytes
    label: int
    key: str = ""


def read_shard(path: str) -> Iterator[Sample]:
    """The samples of one shard, in order, read as a stream (``KEY.jpg`` + ``KEY.cls`` next to each other)."""
    size = os.path.getsize(path)
    if size == 0:
        raise DataError(f"shard {path} is empty; re-create it or leave it out of the pattern")
    if size % 512:  # a tar file is whole 512-byte blocks: a shard cut short would end in a half sample
        raise DataError(f"shard {path} is truncated or not a tar file ({size} bytes, not whole 512-byte blocks); "
                        "re-create it or leave it out")
    key, files = None, {}
    try:
        with tarfile.open(path, "r|") as tar:
            for m in tar:
                if not m.isfile():
                    continue
                stem, dot, ext = m.name.rpartition("/")[2].partition(".")
                if not dot:
                    continue
                k = m.name.rsplit("/", 1)[0] + "/" + stem if "/" in m.name else stem
                if k != key and key is not None:
                    yield _sample(path, key, files)
                    files = {}
                key = k
                f = tar.extractfile(m)
                files[ext.lower()] = f.read() if f is not None else b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"shard {path} is truncated or not a tar file ({exc}); re-create it or leave it "
                        "out") from None
    if key is not None:
        yield _sample(path, key, files)


def _sample(path: str, key: str, files: dict[str, bytes]) -> Sample:
    ext = next((e for e in IMAGE_EXTS if e in files), None)
    if ext is None:
        raise DataError(f"shard {path}: sample {key} has no image ({', '.join(IMAGE_EXTS)}); found "
                        f"{', '.join(sorted(files))}")
    if LABEL_EXT not in files:
        raise DataError(f"shard {path}: sample {key} has no .{LABEL_EXT} label file; every sample needs KEY.cls")
    text = files[LABEL_EXT].decode("utf-8", "replace").strip()
    try:
        label = int(text)
    except ValueError:
        raise DataError(f"shard {path}: {key}.{LABEL_EXT} holds {text[:20]!r}, not a class number") from None
    return Sample(f"{path}:{key}.{ext}", files[ext], label, key)


def slot_samples(shards: Sequence[str], slot: int, slots: int, *, seed: int = 0, epoch: int = 0,
                 shuffle: bool = False) -> Iterator[Sample]:
    """The samples one reader slot of ``slots`` reads in an epoch (disjoint from every other slot's)."""
    order = list(shards)
    if shuffle:
        order = [order[i] for i in np.random.default_rng((int(seed), int(epoch))).permutation(len(order))]
    if len(order) >= slots:
        for path in order[slot::slots]:
            yield from read_shard(path)
        return
    position = 0
    for path in order:
        for sample in read_shard(path):
            if position % slots == slot:
                yield sample
            position += 1


def shuffled(samples: Iterator[Any], size: int, rng: np.random.Generator) -> Iterator[Any]:
    """A shuffle buffer: hold ``size`` items, yield a random one as each new item arrives, then drain randomly."""
    if size <= 1:
        yield from samples
        return
    buffer: list[Any] = []
    for s in samples:
        if len(buffer) < size:
            buffer.append(s)
            continue
        i = int(rng.integers(len(buffer)))
        buffer[i], s = s, buffer[i]
        yield s
    while buffer:
        i = int(rng.integers(len(buffer)))
        buffer[i], buffer[-1] = buffer[-1], buffer[i]
        yield buffer.pop()


def stream_shards(pattern: str | os.PathLike | Sequence[str], pre: Preprocess, *, batch_size: int,
                  train: bool = False, seed: int = 0, epoch: int = 0, shuffle_buffer: int = 1000,
                  rank: int = 0, world: int = 1, worker: int = 0, workers: int = 1, augment: Any = None,
                  num_classes: int | None = None, layout: str = "NHWC", strict: bool = False,
                  skipped: list[str] | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(images, labels) numpy batches of the samples of slot (rank, worker) of an epoch of streamed shards:
    shuffled through ``shuffle_buffer`` samples and augmented (``train``), transformed with ``pre``, in ``layout``.
    Undecodable images are skipped and named in ``skipped`` (``strict``: raise); a label outside
    ``num_classes`` is an error naming the sample."""
    if not (0 <= rank < world and 0 <= worker < workers):
        raise DataError(f"rank {rank} of {world} / worker {worker} of {workers} is not a reader slot; "
                        "0 <= rank < world and 0 <= worker < workers")
    slot, slots = rank * workers + worker, world * workers
    samples = slot_samples(expand(pattern), slot, slots, seed=seed, epoch=epoch, shuffle=train)
    rng = np.random.default_rng((int(seed), int(epoch), slot))
    if train:
        samples = shuffled(samples, int(shuffle_buffer), rng)
    aug = Augment.parse(True if augment is None else augment) if train else None
    xs, ys = [], []
    for count, s in enumerate(samples):
        if num_classes is not None and not 0 <= s.label < num_classes:
            raise DataError(f"{s.name} has label {s.label}, outside the {num_classes} classes 0..{num_classes - 1}; "
                            "fix the .cls file or pass the full class list")
        try:
            x = pre(s.image) if aug is None else train_image(aug, pre, s.image, item_rng(seed, epoch, count * slots
                                                                                            + slot))
        except DataError as exc:
            if strict:
                raise DataError(str(exc).replace("<image bytes>", s.name)) from None
            if skipped is not None:
                skipped.append(s.name)
            continue
        xs.append(x)
        ys.append(s.label)
        if len(xs) == batch_size:
            yield to_layout(np.stack(xs), layout), np.asarray(ys, np.int64)
            xs, ys = [], []
    if xs:
        yield to_layout(np.stack(xs), layout), np.asarray(ys, np.int64)
