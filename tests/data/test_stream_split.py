"""zoo_core.data.stream_split: tar shards as streamed train/val/test splits, through ``zoo.data.batches`` and
``zoo train --stream``: every sample once per epoch on one rank, disjoint ranks with equal steps, seeded and
resumable, the same batches in both layouts, bad input one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.data.shard_files import sample_ids, write_shards
from tests.helpers import run_zoo
from zoo_core.data import DataError, Preprocess, batches, open_dataset
from zoo_core.data.stream_split import part_of

PRE = Preprocess((6, 6), 1, (0.5,), (0.25,))


def _write(folder, **kw):
    return write_shards(folder, **{"n_shards": 4, "per_shard": 12, "step": 5, "classes": 3, **kw})


def _ids(got):
    return sample_ids(got, step=5)


def test_the_splits_are_disjoint_by_key_hash_and_one_epoch_reads_each_sample_once(tmp_path):
    pattern = _write(tmp_path / "sh")
    ds = open_dataset(pattern, split=(0.6, 0.2, 0.2), seed=1, stream=True)
    assert ds.classes == ["0", "1", "2"] and len(ds.train) + len(ds.val) + len(ds.test) == 48
    expected = {p: sorted(s * 12 + k for s in range(4) for k in range(12)
                          if part_of(f"s{s}k{k}", (0.6, 0.2, 0.2), 1) == p) for p in range(3)}
    assert all(expected.values()) and len(ds.train) == len(expected[0])
    for part, split in enumerate((ds.train, ds.val, ds.test)):
        got = list(batches(split, PRE, batch_size=5, framework="tf"))
        assert sorted(_ids(got)) == expected[part]
    train = list(batches(ds.train, PRE, batch_size=5, train=True, augment=False, seed=3, epoch=0))
    assert sorted(_ids(train)) == expected[0] and _ids(train) != expected[0]  # shuffled, each once


def test_ranks_read_disjoint_shards_with_equal_steps_and_resume_mid_epoch(tmp_path):
    ds = open_dataset(_write(tmp_path / "sh"), split=(1.0, 0.0, 0.0), stream=True)
    kw = dict(batch_size=4, train=True, augment=False, seed=7, epoch=2)
    ranks = [list(batches(ds.train, PRE, shard=(r, 2), framework="tf", **kw)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 6  # ceil(ceil(48 / 2) / 4)
    assert not set(_ids(ranks[0])) & set(_ids(ranks[1]))
    assert sorted(_ids(ranks[0]) + _ids(ranks[1])) == list(range(48))
    tail = list(batches(ds.train, PRE, shard=(1, 2), start=4, **kw))
    assert _ids(tail) == _ids(ranks[1][4:])
    torch_layout = list(batches(ds.train, PRE, shard=(1, 2), framework="torch", threads=1, **kw))
    for (a, ya), (b, yb) in zip(ranks[1], torch_layout, strict=True):
        np.testing.assert_array_equal(a, b.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(ya, yb)


def test_stream_is_for_tar_shards_and_labels_are_checked(tmp_path):
    with pytest.raises(DataError, match="stream applies to tar shards"):
        open_dataset("digits", stream=True)
    pattern = _write(tmp_path / "sh", n_shards=1, label=4)
    with pytest.raises(DataError, match="outside the 2 classes"):
        from zoo_core.data import stream_dataset

        stream_dataset(pattern, classes=["a", "b"])


def test_zoo_train_streams_shards_and_eval_reads_the_same_test_samples(tmp_path):
    pattern = _write(tmp_path / "sh", n_shards=3, per_shard=20)
    run = tmp_path / "run"
    args = ["--data", pattern, "--stream", "--split", "0.7,0,0.3", "--epochs", "1", "--batch-size", "8"]
    done = run_zoo("train", "simplecnn", *args, "--out", str(run))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    test_n = sum(part_of(f"s{s}k{k}", (0.7, 0.0, 0.3), 0) == 2 for s in range(3) for k in range(20))
    assert report["n"] == test_n
    again = run_zoo("eval", str(run), "--data", pattern, "--split", "test", "--json")  # stream taken from the run
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["n"] == test_n
