"""Small WebDataset-style tar shards for the shard tests: each sample's image value encodes its number, so a
batch tells which samples it holds."""

from __future__ import annotations

import io
import tarfile

import numpy as np
from PIL import Image


def write_shards(folder, n_shards=3, per_shard=5, bad=None, step=10, classes=2, label=None) -> str:
    """``n_shards`` shards of ``per_shard`` samples (``s{shard}k{k}.png`` of value step x number + ``.cls``
    k mod classes, or ``label``); the sample named ``bad`` gets undecodable bytes. Returns the brace pattern."""
    folder.mkdir(exist_ok=True)
    for s in range(n_shards):
        with tarfile.open(folder / f"train-{s:06d}.tar", "w") as tar:
            for k in range(per_shard):
                key = f"s{s}k{k}"
                buf = io.BytesIO()
                Image.fromarray(np.full((8, 8), (step * (s * per_shard + k)) % 256, np.uint8)).save(buf, "PNG")
                payload = b"garbage" if key == bad else buf.getvalue()
                cls = str(k % classes if label is None else label).encode()
                for name, data in ((f"{key}.png", payload), (f"{key}.cls", cls)):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return str(folder / ("train-{000000.." + f"{n_shards - 1:06d}" + "}.tar"))


def sample_ids(batches, step=10) -> list[int]:
    """The sample numbers of batches normalised with mean 0.5, std 0.25, in order."""
    return [int(round((x[0, 0, 0] * 0.25 + 0.5) * 255 / step)) for b, _ in batches for x in b]
