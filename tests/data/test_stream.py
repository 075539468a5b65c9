"""zoo_core.data.stream: tar shards read as streams, shuffled through a bounded buffer, disjoint across
(rank, worker) reader slots; bad shards are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.shard_files import sample_ids, write_shards
from zoo_core.data import DataError, Preprocess, stream_shards
from zoo_core.data.stream import shuffled

PRE = Preprocess((6, 6), 1, (0.5,), (0.25,))


@pytest.mark.parametrize(("n_shards", "world", "workers"), [(4, 2, 1), (3, 2, 2), (1, 2, 1)])
def test_readers_get_disjoint_samples_that_together_are_the_epoch(tmp_path, n_shards, world, workers):
    pattern = write_shards(tmp_path / "sh", n_shards=n_shards)
    seen = []
    for rank in range(world):
        for worker in range(workers):
            seen.append(sample_ids(stream_shards(pattern, PRE, batch_size=4, train=True, seed=1, epoch=2,
                                           shuffle_buffer=3, rank=rank, world=world, worker=worker, workers=workers,
                                           augment=False)))
    flat = [i for ids in seen for i in ids]
    assert sorted(flat) == list(range(n_shards * 5))  # every sample once: no two readers share one


def test_the_buffer_shuffles_reproducibly_and_eval_keeps_the_order(tmp_path):
    pattern = write_shards(tmp_path / "sh")
    kw = dict(batch_size=4, train=True, seed=3, shuffle_buffer=6, augment=False)
    a = sample_ids(stream_shards(pattern, PRE, epoch=0, **kw))
    assert a == sample_ids(stream_shards(pattern, PRE, epoch=0, **kw))
    assert a != sample_ids(stream_shards(pattern, PRE, epoch=1, **kw)) and sorted(a) == list(range(15))
    assert sample_ids(stream_shards(pattern, PRE, batch_size=4)) == list(range(15))
    x, y = next(stream_shards(pattern, PRE, batch_size=4, layout="NCHW"))
    assert x.shape == (4, 1, 6, 6) and y.tolist() == [0, 1, 0, 1]


def test_shuffle_buffer_holds_at_most_its_size():
    held = []

    def source():
        for i in range(50):
            held.append(i)
            yield i

    out = []
    for item in shuffled(source(), 5, np.random.default_rng(0)):
        out.append(item)
        assert len(held) - len(out) <= 5
    assert sorted(out) == list(range(50)) and out != list(range(50))


def test_an_undecodable_image_is_skipped_and_named_or_raises_when_strict(tmp_path):
    pattern = write_shards(tmp_path / "sh", bad="s1k2")
    skipped = []
    assert len(sample_ids(stream_shards(pattern, PRE, batch_size=4, skipped=skipped))) == 14
    assert skipped == [str(tmp_path / "sh" / "train-000001.tar") + ":s1k2.png"]
    with pytest.raises(DataError, match=r"train-000001.tar:s1k2.png is not a readable image"):
        list(stream_shards(pattern, PRE, batch_size=4, strict=True))


def test_bad_shards_and_labels_are_one_line_errors(tmp_path):
    pattern = write_shards(tmp_path / "sh", n_shards=2)
    with pytest.raises(DataError, match=r"has label 1, outside the 1 classes 0..0; fix the .cls file"):
        list(stream_shards(pattern, PRE, batch_size=4, num_classes=1))
    empty = tmp_path / "sh" / "train-000001.tar"
    data = empty.read_bytes()
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"shard .*train-000001.tar is empty; re-create it"):
        list(stream_shards(pattern, PRE, batch_size=4))
    empty.write_bytes(data[:1500])
    with pytest.raises(DataError, match=r"train-000001.tar is truncated or not a tar file .*re-create it"):
        list(stream_shards(pattern, PRE, batch_size=4))
    with pytest.raises(DataError, match="is not a reader slot"):
        next(stream_shards(pattern, PRE, batch_size=4, rank=2, world=2))
