"""zoo_core.data.imageops: the batch normalisation gives torchvision's ToTensor + Normalize floats exactly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zoo_core.data.imageops import aligned_empty, normalize_batch
from zoo_core.data.preprocess import Preprocess
from zoo_core.models import get_entry, list_models


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_every_pixel_value_normalises_to_torchvisions_floats(name, layout):
    from torchvision.transforms import functional as tvf

    pre = Preprocess.for_entry(get_entry(name))
    every = np.arange(256, dtype=np.uint8).reshape(16, 16)
    colour = np.stack([every, every[::-1], every.T], -1)
    images = [every[:, :, None] if pre.in_chans == 1 else colour, every]  # and a grey image, repeated per channel
    out = normalize_batch(images, *pre.stats, layout)
    assert out.dtype == np.float32 and out.ctypes.data % 64 == 0
    for n, img in enumerate(images):
        pil = Image.fromarray(img.squeeze()).convert("L" if pre.in_chans == 1 else "RGB")
        expected = tvf.normalize(tvf.to_tensor(pil), list(pre.stats[0]), list(pre.stats[1])).numpy()  # CHW
        np.testing.assert_array_equal(out[n] if layout == "NCHW" else out[n].transpose(2, 0, 1), expected)


def test_aligned_empty_starts_on_the_boundary():
    for shape in [(1,), (3, 5, 7), (2, 3, 224, 224)]:
        a = aligned_empty(shape)
        assert a.shape == shape and a.dtype == np.float32 and a.ctypes.data % 64 == 0 and a.flags.c_contiguous
