"""zoo_core.backends.tf_backend: the loader's batches become TensorFlow tensors without a copy."""

from __future__ import annotations

import numpy as np
from PIL import Image

from zoo_core.backends.tf_backend import host_tensor
from zoo_core.data import Preprocess, batches, image_folder


def test_loader_batches_become_tensors_over_their_own_memory_and_other_arrays_are_copied(tmp_path):
    for i in range(6):
        (tmp_path / f"c{i % 2}").mkdir(exist_ok=True)
        Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(tmp_path / f"c{i % 2}" / f"{i}.png")
    split = image_folder(tmp_path, split=(1.0, 0.0, 0.0)).train
    x, _ = next(iter(batches(split, Preprocess((16, 16), 3, (0.5,) * 3, (0.25,) * 3), batch_size=4, workers=0,
                             framework="tf")))
    tensor = host_tensor(x)
    np.testing.assert_array_equal(tensor.numpy(), x)
    x[0, 0, 0, 0] = 123.0  # the tensor is the batch's memory: no copy was made
    assert float(tensor[0, 0, 0, 0]) == 123.0
    raw = np.zeros(4 * 25 + 64, np.uint8)
    start = (-raw.ctypes.data % 64) + 16  # 16 bytes past a 64-byte boundary: TensorFlow would abort on it
    odd = raw[start:start + 4 * 25].view(np.float32)
    odd[:] = np.arange(25)
    copied = host_tensor(odd)
    odd[0] = -1.0
    np.testing.assert_array_equal(copied.numpy(), np.arange(25, dtype=np.float32))
