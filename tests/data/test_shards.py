"""WebDataset-style tar shards: brace patterns, indexed from headers, read by offset through the loaders; bad
shards are one-line errors."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from zoo_core.data import DataError, Preprocess, open_dataset, shards, torch_loader
from zoo_core.data.shards import ShardMember


def _write_shards(folder, n_shards=3, per_shard=4, corrupt=None):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for s in range(n_shards):
        with tarfile.open(folder / f"train-{s:06d}.tar", "w") as tar:
            for k in range(per_shard):
                key = f"s{s}k{k}"
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (12 + k, 9, 3), dtype=np.uint8)).save(buf, "JPEG")
                data = b"garbage" if key == corrupt else buf.getvalue()
                for name, payload in ((f"{key}.jpg", data), (f"{key}.cls", str((s + k) % 2).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
    return str(folder / ("train-{000000.." + f"{n_shards - 1:06d}" + "}.tar"))


def test_shards_index_without_decoding_and_read_through_the_loader(tmp_path):
    pattern = _write_shards(tmp_path / "sh", corrupt="s1k2")
    ds = open_dataset(pattern, split=(1.0, 0.0, 0.0))
    assert len(ds.train) == 12 and ds.classes == ["0", "1"]
    assert all(isinstance(m, ShardMember) for m in ds.train.images)
    pre = Preprocess((8, 8), 3, (0.5,), (0.25,))
    with pytest.warns(UserWarning, match=r"train-000001.tar:s1k2.jpg is not a readable image"):
        batches = list(torch_loader(ds.train, pre, 5, augment=True, seed=0))
    assert sum(len(y) for _, y in batches) == 11 and ds.skipped_files == [f"{tmp_path}/sh/train-000001.tar:s1k2.jpg"]
    member = next(m for m in ds.train.images if m.name == "s0k3.jpg")
    label = ds.train.labels[ds.train.images.index(member)]
    assert label == 1 and Image.open(io.BytesIO(member.read_bytes())).size == (9, 15)


def test_bad_shards_are_one_line_errors(tmp_path):
    pattern = _write_shards(tmp_path / "sh", n_shards=2)
    with pytest.raises(DataError, match=r"1 of 3 shards do not exist .*train-000002.tar"):
        shards(str(tmp_path / "sh" / "train-{000000..000002}.tar"))
    (tmp_path / "sh" / "empty.tar").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.tar is empty; re-create it"):
        shards(tmp_path / "sh" / "empty.tar")
    whole = (tmp_path / "sh" / "train-000000.tar").read_bytes()
    (tmp_path / "sh" / "cut.tar").write_bytes(whole[:1500])
    with pytest.raises(DataError, match=r"cut.tar is (truncated|not a readable tar file)"):
        shards(tmp_path / "sh" / "cut.tar")
    with pytest.raises(DataError, match=r"has label 1, outside the 1 classes"):
        shards(pattern, classes=["only"])
    with tarfile.open(tmp_path / "sh" / "nolabel.tar", "w") as tar:
        info = tarfile.TarInfo("a.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(DataError, match=r"sample a has no .cls label file"):
        shards(tmp_path / "sh" / "nolabel.tar")
