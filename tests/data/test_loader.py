"""zoo_core.data.loader: ``batches`` gives both frameworks the same seeded batches (in their layouts), resumes
mid-epoch, deals disjoint shares to ranks, and skips (or, strict, raises on) undecodable files, with Grain
workers or in-process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_core.data import DataError, Preprocess, batches, image_folder
from zoo_core.data.loader import plan

PRE = Preprocess((12, 12), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(22):
        d = tmp_path / "imgs" / f"c{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (14 + i % 5, 17, 3), dtype=np.uint8)).save(d / f"{i:02d}.png")
    return tmp_path / "imgs"


def _all(split, **kw):
    kw.setdefault("workers", 0)
    return [(x, y) for x, y in batches(split, PRE, batch_size=5, **kw)]


def test_same_seed_same_images_in_both_layouts_with_or_without_workers(folder):
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    torch_in_process = _all(split, train=True, seed=3, epoch=1, framework="torch", workers=0, threads=1)
    tf_workers = _all(split, train=True, seed=3, epoch=1, framework="tf", workers=2)
    tf_threads = _all(split, train=True, seed=3, epoch=1, framework="tf", workers=0, threads=3)
    for (a, ya), (b, yb) in zip(tf_workers, tf_threads, strict=True):  # decode threads keep the batches' order
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)
    assert [x.shape for x, _ in torch_in_process][:1] == [(5, 3, 12, 12)] and tf_workers[0][0].shape == (5, 12, 12, 3)
    assert len(torch_in_process) == len(tf_workers) == 5
    for (xt, yt), (xk, yk) in zip(torch_in_process, tf_workers, strict=True):
        np.testing.assert_array_equal(xt, xk.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(yt, yk)
    assert sorted(np.concatenate([y for _, y in tf_workers]).tolist()) == sorted(split.labels.tolist())
    other_epoch = _all(split, train=True, seed=3, epoch=2, framework="torch", workers=0)
    assert not np.array_equal(other_epoch[0][0], torch_in_process[0][0])  # a new order and new draws


def test_eval_batches_keep_the_split_order_and_equal_the_transform(folder):
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    got = _all(split, framework="tf")
    np.testing.assert_array_equal(np.concatenate([y for _, y in got]), split.labels)
    np.testing.assert_array_equal(got[1][0][2], PRE(split.image(7)))


def test_start_resumes_mid_epoch_and_epochs_come_in_order(folder):
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    full = _all(split, train=True, seed=5, epoch=4)
    tail = _all(split, train=True, seed=5, epoch=4, start=3)
    assert len(tail) == 2
    for (a, ya), (b, yb) in zip(full[3:], tail, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ya, yb)
    stream = batches(split, PRE, batch_size=5, train=True, seed=5, epoch=4, epochs=2)
    with pytest.raises(DataError, match="epoch 5 asked for, but this loader's next epoch is 4"):
        next(stream.epoch(5))
    first = list(stream.epoch(4))
    second = list(stream.epoch(5))
    stream.close()
    np.testing.assert_array_equal(first[0][0], full[0][0])
    np.testing.assert_array_equal(second[0][0], _all(split, train=True, seed=5, epoch=5)[0][0])


@pytest.mark.parametrize("n", [40, 37])
def test_ranks_read_disjoint_samples_and_together_the_whole_epoch(n):
    ranks = [np.concatenate(plan(n, 4, seed=1, epoch=2, shuffle=True, shard=(r, 2))) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == -(-n // 2)  # the same number of steps on every rank
    union = np.concatenate(ranks)
    assert sorted(set(union.tolist())) == list(range(n))
    padding = len(union) - n  # 37 samples: one rank's last sample repeats the epoch's first
    assert len(union) - len(set(union.tolist())) == padding == (n % 2)
    single = np.concatenate(plan(n, 8, seed=1, epoch=2, shuffle=True))
    for step in range(len(plan(n, 8, seed=1, epoch=2, shuffle=True)) - 1):  # rank batches of 4 = global batch of 8
        both = plan(n, 4, seed=1, epoch=2, shuffle=True, shard=(0, 2))[step].tolist() + \
            plan(n, 4, seed=1, epoch=2, shuffle=True, shard=(1, 2))[step].tolist()
        assert sorted(both) == sorted(single[step * 8:step * 8 + 8].tolist())


def test_an_undecodable_file_is_skipped_and_named_across_workers_or_raises_when_strict(folder):
    bad = folder / "c1" / "05.png"
    bad.write_bytes(b"not a png")
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    with pytest.warns(UserWarning, match=r"05.png is not a readable image"):
        got = _all(split, framework="tf", workers=2)
    assert sum(len(y) for _, y in got) == 21 and split.skipped == [str(bad)]
    strict = image_folder(folder, split=(1.0, 0.0, 0.0), strict=True).train
    with pytest.raises(DataError, match=r"05.png is not a readable image"):
        _all(strict, framework="torch", workers=0)


def test_bad_arguments_are_one_line_errors(folder):
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    with pytest.raises(DataError, match="shard must be"):
        batches(split, PRE, batch_size=4, shard=(2, 2))
    with pytest.raises(DataError, match="unknown framework 'jax'"):
        batches(split, PRE, batch_size=4, framework="jax")
    with pytest.raises(DataError, match="batch_size must be a positive"):
        batches(split, PRE, batch_size=0)


def test_threads_must_be_positive(folder):
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    with pytest.raises(DataError, match="threads must be 1 or more"):
        batches(split, PRE, batch_size=5, threads=0)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="POSIX shared memory is listed in /dev/shm")
def test_batches_from_workers_leave_nothing_in_shared_memory_while_held(folder):
    """The shared memory a worker fills is unlinked as soon as its batch arrives, not when (or if) Grain's array
    is freed later: an epoch still held open, as a loop that stops early holds it, leaves no file in /dev/shm."""
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    loader = batches(split, PRE, batch_size=11, framework="tf", workers=1)
    before = set(Path("/dev/shm").iterdir())
    epoch = loader.epoch(0)
    received = [next(epoch), next(epoch)]  # the whole epoch; the generator still holds the last batch
    assert len(loader) == 2
    new = [p for p in set(Path("/dev/shm").iterdir()) - before if p.is_file()]
    for x, _ in received:  # a file holding one of these batches would be a leak (other tests' files hold others)
        assert not any(p.read_bytes()[:x.nbytes] == x.tobytes() for p in new if p.stat().st_size >= x.nbytes)
    loader.close()
