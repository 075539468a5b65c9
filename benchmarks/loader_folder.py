"""The image folder the loader benchmarks read (``zoo bench --data``, ``benchmarks/loader_memory.py``): N JPEGs of
300-500 px on each side, not square, in 10 class folders, cut at random from scikit-learn's two sample photos
(427 x 640) and resized, so every file decodes and resizes like a real photo at ImageNet's sizes.

    python benchmarks/loader_folder.py /tmp/imgs2k --images 2000
    python benchmarks/loader_folder.py /tmp/imgs8k --images 8000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

CLASSES = 10


def make_folder(root: Path, images: int, seed: int = 0) -> int:
    """Writes ``images`` JPEGs under ``root/class_K/``; files already there are kept. Returns how many it wrote."""
    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    written = 0
    for k in range(images):
        photo = photos[k % 2]
        h, w = (int(v) for v in rng.integers(300, 501, size=2))  # drawn for every k: the same folder each time
        ch, cw = (int(rng.uniform(0.5, 1.0) * s) for s in photo.shape[:2])
        top, left = int(rng.integers(0, photo.shape[0] - ch + 1)), int(rng.integers(0, photo.shape[1] - cw + 1))
        path = root / f"class_{k % CLASSES}" / f"{k:06d}.jpg"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        crop = Image.fromarray(np.ascontiguousarray(photo[top:top + ch, left:left + cw]))
        tmp = path.with_suffix(".tmp")
        crop.resize((w, h), Image.BICUBIC).save(tmp, format="JPEG", quality=90)
        tmp.replace(path)
        written += 1
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    written = make_folder(args.folder, args.images, args.seed)
    print(f"{args.folder}: {args.images} JPEGs in {CLASSES} classes ({written} written, the rest were there)")


if __name__ == "__main__":
    main()
