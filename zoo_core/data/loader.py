"""``batches(split, model_or_name, ...)``: the one loader both frameworks' loops consume.

An epoch is a plan of batches: the split's positions in a seeded order (``train=True``: a permutation drawn from
(seed, epoch); else the split's order), dealt out to ``shard=(rank, world)`` (rank r takes positions r, r + world,
...; the last round is padded with the order's first samples so every rank runs the same number of steps), then cut
into batches. Each batch is made by :class:`MakeBatch` (decode, transform, optional mixup/cutmix), with every
random draw seeded by (seed, epoch, index) or (seed, epoch, batch number): the same seed gives the same images and
labels in PyTorch and TensorFlow, whatever the number of workers, and ``start=k`` resumes at batch k.

Workers are Google's Grain (``grain.MapDataset`` + ``mp_prefetch``): framework-free processes that pass the
numpy batches back through shared memory, with a bounded prefetch (memory does not grow with the dataset).
In-memory splits (the built-in digits) are gathered in-process from the preprocessed array, which is faster than
any process hop. Batches are numpy ``(images, labels)`` in the framework's layout (torch NCHW, tf NHWC); labels are
int64 class indices, or float32 (N, classes) soft targets when ``mix`` is on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from ..layout import to_layout
from ..models import get_entry, spec_of
from .augment import Augment, item_rng
from .datasets import Split, note_skipped, require_nonempty
from .mix import Mix
from .preprocess import Preprocess, augment_image, prepare
from .stream_split import StreamBatches, StreamSplit
from .transforms import train_pixels

LAYOUTS = {"torch": "NCHW", "tf": "NHWC"}
FRAMEWORK_ALIASES = {"torch": "torch", "pytorch": "torch", "pt": "torch", "tf": "tf", "tensorflow": "tf",
                     "keras": "tf"}


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The positions of an epoch: a permutation seeded by (seed, epoch), or 0..n-1."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng((int(seed), int(epoch))).permutation(n).astype(np.int64)


def plan(n: int, batch_size: int, *, seed: int = 0, epoch: int = 0, shuffle: bool = False,
         shard: tuple[int, int] = (0, 1)) -> list[np.ndarray]:
    """The index batches of one epoch for one shard (rank, world): disjoint across ranks except the padding."""
    rank, world = int(shard[0]), int(shard[1])
    if world < 1 or not 0 <= rank < world:
        raise DataError(f"shard must be (rank, world) with 0 <= rank < world, got {tuple(shard)}")
    if batch_size < 1:
        raise DataError(f"batch_size must be a positive number of images, got {batch_size}")
    order = epoch_order(n, seed, epoch, shuffle)
    if world > 1:
        total = -(-n // world) * world
        order = np.concatenate([order, order[:total - n]])[rank::world]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass
class MakeBatch:
    """Batch k of an epoch, from a job ``(epoch, k)``: its positions (:func:`plan`), decoded, transformed (eval, or
    train augmentation), stacked in the layout, optionally mixed. Picklable, so Grain's worker processes run it;
    images that cannot be decoded are left out and named in ``skipped`` (a strict split raises)."""

    split: Split
    pre: Preprocess
    augment: Augment | None
    seed: int
    layout: str
    batch_size: int
    shuffle: bool = False
    shard: tuple[int, int] = (0, 1)
    mix: Mix | None = None

    def __post_init__(self) -> None:
        self._x, self._plans = None, {}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_x", "_plans")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._x, self._plans = None, {}

    def plan(self, epoch: int) -> list[np.ndarray]:
        plans = self._plans  # one epoch's plan kept; a local reference, as decode threads call this concurrently
        if epoch not in plans:
            plans = {epoch: plan(len(self.split), self.batch_size, seed=self.seed, epoch=epoch,
                                 shuffle=self.shuffle, shard=self.shard)}
            self._plans = plans
        return plans[epoch]

    def image(self, i: int, epoch: int) -> np.ndarray:
        """Image ``i`` of the split, float32 HWC: an in-memory image from the prepared array (augmented as an
        array), a file as timm does (augmented on the original image)."""
        if self.split.in_memory:
            if self._x is None:
                self._x = prepare(self.split, self.pre)
            x = self._x[i]
            return x if self.augment is None else augment_image(self.augment, self.pre, x, self.seed, epoch, i)
        return self.pre.normalize(self.pixels(i, epoch))

    def pixels(self, i: int, epoch: int):
        """Image ``i`` of a file split before normalising: a uint8 PIL image at the input size, read as timm
        does and resized + center-cropped (eval) or augmented on the original image (train)."""
        item = self.split.image(i)
        if self.augment is None:
            return self.pre.geometry(item)
        return train_pixels(self.augment, self.pre, item, item_rng(self.seed, epoch, i))

    def __call__(self, job: tuple[int, int]) -> dict[str, Any]:
        epoch, number = job
        positions = self.plan(epoch)[number]
        if self.split.in_memory and self.augment is None:  # one gather from the prepared split
            if self._x is None:
                self._x = prepare(self.split, self.pre)
            return self._finish(self._x[positions], self.split.labels[positions], [], epoch, number)
        read = self.image if self.split.in_memory else self.pixels
        images, keep, skipped = [], [], []
        for i in positions.tolist():
            try:
                images.append(read(i, epoch))
                keep.append(i)
            except DataError as exc:
                if self.split.strict:
                    raise
                skipped.append(f"{self.split.image(i)}\t{exc}")
        if self.split.in_memory:
            h, w = self.pre.input_size
            x = np.stack(images) if images else np.zeros((0, h, w, self.pre.in_chans), np.float32)
        else:  # normalised straight into the batch, in the layout unless mixing (which works on NHWC)
            x = self.pre.stack(images, "NHWC" if self.mix is not None else self.layout)
        return self._finish(x, self.split.labels[keep], skipped, epoch, number,
                            in_layout=not self.split.in_memory and self.mix is None)

    def _finish(self, x: np.ndarray, y: np.ndarray, skipped: list[str], epoch: int, number: int,
                in_layout: bool = False) -> dict[str, Any]:
        y = np.asarray(y, np.int64)
        if self.mix is not None:
            x, y = self.mix(x, y, len(self.split.classes), np.random.default_rng((self.seed, epoch, number, 7)))
        if not in_layout:
            x = to_layout(x, self.layout)
        return {"x": x, "y": y, "skipped": np.array(skipped, dtype=str)}


def _framework(model_or_name: Any, framework: str | None) -> str:
    if framework is not None:
        fw = FRAMEWORK_ALIASES.get(str(framework).lower())
        if fw is None:
            raise DataError(f"unknown framework {framework!r}; use torch or tf")
        return fw
    module = type(model_or_name).__module__.split(".")[0]
    return "tf" if module in ("keras", "tensorflow", "tf_keras") else "torch"


def _preprocess(model_or_name: Any) -> Preprocess:
    if isinstance(model_or_name, Preprocess):
        return model_or_name
    if isinstance(model_or_name, str):
        return Preprocess.for_entry(get_entry(model_or_name))
    return Preprocess.for_entry(spec_of(model_or_name).entry)


def default_threads(split: Split, workers: int) -> int:
    """Decode threads in the training process when it loads in-process: min(4, CPUs) for file splits (Pillow
    and numpy release the GIL while they decode, resize and normalise), 1 for in-memory splits and inside
    worker processes."""
    return 1 if split.in_memory or workers > 0 else min(4, os.cpu_count() or 1)


def default_workers(split: Split) -> int:
    """0 (in-process) for in-memory splits and on machines with 2 CPUs or fewer (measured on one, shared: 220-245
    img/s in-process against 105-120 with 2 Grain workers, docs/data.md), else min(4, CPUs - 1)."""
    cpus = os.cpu_count() or 1
    return 0 if split.in_memory or cpus <= 2 else min(4, cpus - 1)


class Batches:
    """The batches of one or more epochs, made by one pool of Grain workers (started on the first batch, kept
    for every epoch: no process start per epoch). ``len()`` is the number of batches of one epoch; ``iter()`` runs
    the first epoch (from batch ``start``); :meth:`epoch` each epoch in turn. Files that fail to decode are added
    to ``split.skipped`` and warned about once each."""

    def __init__(self, split: Split, make: MakeBatch, epochs: range, workers: int, start: int = 0,
                 threads: int = 1):
        self.split, self.make, self.epochs, self.workers, self.start = split, make, epochs, workers, int(start)
        self.threads = max(int(threads), 1)
        self.per_epoch = len(make.plan(epochs[0]))
        self._it: Iterator[dict[str, Any]] | None = None
        self._next = epochs[0]

    def __len__(self) -> int:
        return max(self.per_epoch - self.start, 0)

    def _jobs(self) -> list[tuple[int, int]]:
        first = self.epochs[0]
        return [(e, k) for e in self.epochs for k in range(self.start if e == first else 0, self.per_epoch)]

    def _raw(self) -> Iterator[dict[str, Any]]:
        jobs = self._jobs()
        if len(jobs) <= 1 or (self.workers == 0 and self.threads == 1):
            yield from map(self.make, jobs)
            return
        import grain

        ds = grain.MapDataset.source(jobs).map(self.make)
        if self.workers == 0:  # Grain's reader threads in this process, each making whole batches, in order;
            # two batches in flight per thread (torch DataLoader's prefetch_factor), so a thread that finishes
            # first starts its next batch instead of waiting for the consumer (measured +8% on 2 CPUs)
            it = iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=self.threads,
                                                           prefetch_buffer_size=2 * self.threads)))
        else:  # one batch at a time in each worker (Grain's default: 16 threads, 500 elements ahead per worker)
            ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=1))
            it = iter(ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=self.workers,
                                                                  per_worker_buffer_size=1)))
        try:
            yield from it
        finally:
            it.close()

    @property
    def next_epoch(self) -> int | None:
        """The epoch :meth:`epoch` can give next (None after an epoch was left unfinished)."""
        return self._next

    def epoch(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of ``epoch`` (the epochs must be taken in order, each to its end)."""
        if epoch != self._next or epoch not in self.epochs:
            raise DataError(f"epoch {epoch} asked for, but this loader's next epoch is {self._next}; take the "
                            "epochs in order, each to its end")
        if self._it is None:
            self._it = self._raw()
        self._next = None  # an epoch left unfinished leaves the stream unusable: make a new one
        for _ in range(len(self) if epoch == self.epochs[0] else self.per_epoch):
            batch = next(self._it)
            for entry in batch["skipped"].tolist():
                name, _, reason = entry.partition("\t")
                note_skipped(self.split, name, reason)
            if not len(batch["y"]):
                continue
            if self.workers:  # plain arrays, and the shared memory's name removed at once (the mapping lives on
                # until Grain's array is freed): nothing is left in /dev/shm, whenever and however the run ends
                _unlink_now(batch)
                yield np.array(batch["x"], copy=True, subok=False), np.array(batch["y"], copy=True, subok=False)
            else:
                yield batch["x"], batch["y"]
        self._next = epoch + 1

    def close(self) -> None:
        """Stop the workers (also when the iterator is garbage-collected)."""
        if self._it is not None:
            self._it.close()
            self._it = None

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        try:
            yield from self.epoch(self.epochs[0])
        finally:
            self.close()


def _unlink_now(batch: dict[str, Any]) -> None:
    """Unlink the shared memory of a batch Grain's workers sent, instead of when Grain's array is deleted (on a
    background thread that may not run again if the process is exiting; the resource tracker then warns)."""
    for value in batch.values():
        if getattr(value, "_unlink_on_del", False):
            value.shm.unlink()
            value._unlink_on_del = False


def batches(split: Split, model_or_name: Any, *, batch_size: int, train: bool = False, seed: int = 0,
            epoch: int = 0, workers: int | None = None, threads: int | None = None, framework: str | None = None,
            augment: Any = None,
            mix: Any = None, label_smoothing: float = 0.0, shard: tuple[int, int] = (0, 1),
            start: int = 0, epochs: int = 1) -> Batches | StreamBatches:
    """The (images, labels) numpy batches of one epoch of ``split`` for a model (object, catalogue name or
    :class:`Preprocess`), in ``framework``'s layout (default: the model's; torch for a name).

    ``train=True``: shuffled by (seed, epoch) and augmented (``augment``: True/None = crop, flip, jitter; a
    spec such as "crop,flip,randaugment"; False: none); ``mix``: mixup/cutmix (see :class:`.mix.Mix`), whose soft
    targets carry ``label_smoothing``.
    ``workers``: Grain worker processes (default: 0, in-process, for in-memory splits and on 2 CPUs or fewer,
    else min(4, CPUs - 1)); ``threads``: decode threads in the training process when it loads in-process (default:
    min(4, CPUs) for image files, see :func:`default_threads`); ``shard``:
    (rank, world) for distributed training; ``start``: resume the epoch at that batch; ``epochs``: how many
    epochs from ``epoch`` one pool of workers serves (take them with :meth:`Batches.epoch`)."""
    require_nonempty(split)
    pre = _preprocess(model_or_name)
    fw = _framework(model_or_name, framework)
    aug = None
    if train:
        aug = Augment.parse(True if augment is None else augment)
    mixer = Mix.parse(mix, float(label_smoothing)) if train else None
    if threads is not None and int(threads) < 1:
        raise DataError(f"threads must be 1 or more, got {threads}")
    epoch_range = range(int(epoch), int(epoch) + max(int(epochs), 1))
    if isinstance(split, StreamSplit):  # streamed tar shards: read front to back on this process's threads
        n_threads = default_threads(split, 0) if threads is None else int(threads)
        return StreamBatches(split, pre, aug, int(seed), LAYOUTS[fw], int(batch_size), train, tuple(shard), mixer,
                             epoch_range, int(start), n_threads)
    make = MakeBatch(split, pre, aug, int(seed), LAYOUTS[fw], int(batch_size), train, tuple(shard), mixer)
    n_workers = default_workers(split) if workers is None else int(workers)
    if n_workers < 0:
        raise DataError(f"workers must be 0 (in-process) or more, got {workers}")
    if split.in_memory:
        n_workers = 0
    n_threads = default_threads(split, n_workers) if threads is None else int(threads)
    return Batches(split, make, epoch_range, n_workers, start, n_threads)
