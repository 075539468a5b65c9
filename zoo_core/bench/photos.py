"""A folder of real-photo JPEGs for the benchmark's full-size row (``--data photos``): random crops of
scikit-learn's two sample photos (china.jpg, flower.jpg), each upright or upside down, four classes, 256x256.
Decoded from disk every epoch, so data loading is part of what is timed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAME = "photos"
CLASSES = ("china", "china_flipped", "flower", "flower_flipped")
SIZE = 256


def make_folder(root: Path, n: int, seed: int = 0) -> Path:
    """``root`` with ``n`` JPEGs in class folders (kept when it already holds ``n``); returns ``root``."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    existing = sorted(root.glob("*/*.jpg"))
    if len(existing) == n:
        return root
    photos = load_sample_images().images  # two uint8 arrays, 427 x 640
    rng = np.random.default_rng(seed)
    for k in range(n):
        label = k % len(CLASSES)
        photo = photos[label // 2]
        side = int(rng.uniform(0.4, 0.9) * min(photo.shape[:2]))
        top = int(rng.integers(0, photo.shape[0] - side + 1))
        left = int(rng.integers(0, photo.shape[1] - side + 1))
        crop = photo[top:top + side, left:left + side]
        if label % 2:
            crop = crop[::-1]
        folder = root / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(crop)).resize((SIZE, SIZE), Image.BILINEAR).save(
            folder / f"{k:05d}.jpg", quality=90)
    return root
