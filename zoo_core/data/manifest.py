"""A dataset from a manifest: a CSV (with a header) or JSONL file of rows ``path`` (relative to the manifest's
folder, or absolute) and ``label`` (a class name), optionally ``split`` (train/val/test: then used as given,
otherwise the rows are split by fractions, stratified and seeded). Files are checked to exist, not decoded."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError
from .datasets import SPLIT_NAMES, Dataset, Split, split_indices

MANIFEST_SUFFIXES = (".csv", ".jsonl")
PATH_KEYS = ("path", "image", "file")


def _rows(path: Path) -> list[tuple[int, dict]]:
    """(line number, row) of a CSV or JSONL manifest."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read manifest {path}: {exc}; give a UTF-8 CSV or JSONL file") from None
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not a JSON object ({exc.msg}); write one object per line") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{n}: not a JSON object; write one object per line like "
                                '{"path": "img/1.jpg", "label": "cat"}')
            rows.append((n, row))
        return rows
    reader = csv.DictReader(text.splitlines())
    return [(n, row) for n, row in enumerate(reader, 2)]


def manifest(path: str | os.PathLike, split: Sequence[float] = (0.7, 0.2, 0.1), seed: int = 0,
             strict: bool = False, classes: Sequence[str] | None = None) -> Dataset:
    """A :class:`Dataset` from a manifest file. ``classes`` fixes the class names and their order (a label
    outside them is an error); by default they are the sorted distinct labels."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"manifest {path} does not exist; give a .csv or .jsonl file of path,label rows")
    rows = _rows(path)
    if not rows:
        raise DataError(f"manifest {path} has no rows; add one row per image (path and label)")
    first = rows[0][1]
    key = next((k for k in PATH_KEYS if k in first), None)
    if key is None or "label" not in first:
        raise DataError(f"manifest {path} needs a path column ({' or '.join(PATH_KEYS)}) and a label column; "
                        f"it has {', '.join(map(str, first)) or 'none'}")
    base = path.parent
    paths, labels, splits = [], [], []
    for n, row in rows:
        rel, label = row.get(key), row.get("label")
        if rel in (None, "") or label in (None, ""):
            raise DataError(f"{path}:{n}: empty {key if rel in (None, '') else 'label'}; every row needs both")
        file = base / str(rel)
        if not file.is_file():
            raise DataError(f"{path}:{n}: {rel} does not exist (paths are relative to {base}); fix the path or "
                            "remove the row")
        paths.append(str(file))
        labels.append(str(label))
        where = str(row.get("split") or "")
        if where and where not in SPLIT_NAMES:
            raise DataError(f"{path}:{n}: split {where!r} is not one of {', '.join(SPLIT_NAMES)}")
        splits.append(where)
    if classes is None:
        names = sorted(set(labels), key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s))
    else:
        names = [str(c) for c in classes]
        index = set(names)
        for (n, _), label in zip(rows, labels, strict=True):
            if label not in index:
                raise DataError(f"{path}:{n}: label {label!r} is not one of the {len(names)} classes; fix the "
                                "label or add the class")
    if len(names) < 2:
        raise DataError(f"manifest {path} has one class only ({', '.join(names)}); classification needs two")
    lookup = {c: i for i, c in enumerate(names)}
    y = np.array([lookup[label] for label in labels], np.int64)
    files = np.array(paths, dtype=object)
    if any(splits):
        if not all(splits):
            raise DataError(f"manifest {path}: some rows have a split and some do not; give every row one")
        if "train" not in splits:
            raise DataError(f"manifest {path} has no train rows; mark some rows split=train")
        idx = [np.flatnonzero(np.array(splits) == s) for s in SPLIT_NAMES]
    else:
        idx = split_indices(y, split, seed)
    parts = [Split(s, [str(p) for p in files[i]], y[i], names, strict) for s, i in zip(SPLIT_NAMES, idx, strict=True)]
    return Dataset(*parts, classes=names, name=path.stem)
