"""The PyTorch data path: a map-style dataset over a split and a seeded DataLoader (torch imported on use)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..frameworks import import_torch
from ..layout import to_layout
from .augment import Augment, item_rng
from .datasets import Split, require_nonempty
from .preprocess import Preprocess, augment_image, prepare
from .transforms import load_or_skip, train_image


class Batch(tuple):
    """(images, labels) of one batch; ``skipped`` names the files of the batch that could not be decoded (the
    batch is that much smaller). A tuple subclass, so it unpacks as ``x, y`` and crosses the worker queue whole."""

    skipped: tuple[str, ...] = ()


class TorchSplitDataset:
    """A map-style torch dataset of (CHW float tensor, label). ``augment`` (see zoo_core.augment) draws each
    image's randomness from (seed, epoch, index), so it is reproducible and the same as in tf.data.
    Module-level and torch-free until used, so DataLoader workers can pickle it under any start method."""

    def __init__(self, split: Split, pre: Preprocess, augment: Any = None, seed: int = 0, epoch: int = 0):
        self.split, self.pre, self.augment = split, pre, Augment.parse(augment)
        self.seed, self.epoch = int(seed), int(epoch)
        self.x = prepare(split, pre, "NCHW")

    def __len__(self) -> int:
        return len(self.split)

    def _image(self, i: int) -> np.ndarray:
        """Image ``i`` preprocessed and augmented, HWC float32: an in-memory image (already at the input size)
        augmented as an array, an image file as timm does, on the original image."""
        if self.x is None:
            if self.augment is None:
                return self.pre(self.split.image(i))
            return train_image(self.augment, self.pre, self.split.image(i), item_rng(self.seed, self.epoch, i))
        x = self.x[i].transpose(1, 2, 0)
        return augment_image(self.augment, self.pre, x, self.seed, self.epoch, i) if self.augment is not None else x

    def __getitem__(self, i: int):
        torch = import_torch()
        plain = self.x is not None and self.augment is None
        chw = self.x[i] if plain else self._image(i).transpose(2, 0, 1).copy()  # copy(): standard strides
        return torch.from_numpy(chw), int(self.split.labels[i])

    def __getitems__(self, indices: list[int]):
        """A whole batch at once (the DataLoader calls this instead of one ``__getitem__`` per image, then
        :func:`batch_as_is`): one gather from the NCHW split in memory instead of a Python call and a collate per
        image, which cost ~5 % of a small model's step."""
        torch = import_torch()
        skipped: list[str] = []
        if self.x is not None and self.augment is None:
            nchw = self.x[indices]
        else:
            images = [load_or_skip(self._image, i, self.split, skipped) for i in indices]
            indices = [i for i, im in zip(indices, images, strict=True) if im is not None]
            h, w = self.pre.input_size
            images = [im for im in images if im is not None] or [np.zeros((0, h, w, self.pre.in_chans), np.float32)]
            nchw = to_layout(np.stack(images) if len(indices) else images[0], "NCHW")
        batch = Batch((torch.from_numpy(nchw), torch.from_numpy(np.asarray(self.split.labels[indices], np.int64))))
        batch.skipped = tuple(skipped)
        return batch


def batch_as_is(batch: Any) -> Any:
    """The DataLoader's collate_fn for :meth:`TorchSplitDataset.__getitems__`, which returns finished batches."""
    return batch


def torch_dataset(split: Split, pre: Preprocess, augment: Any = None, seed: int = 0,
                  epoch: int = 0) -> TorchSplitDataset:
    return TorchSplitDataset(split, pre, augment, seed, epoch)


def torch_loader(split: Split, pre: Preprocess, batch_size: int = 64, *, shuffle: bool = False,
                 augment: Any = None, num_workers: int = 0, seed: int = 0, device: str = "cpu", epoch: int = 0):
    """A ``torch.utils.data.DataLoader`` over a split; shuffling is seeded (``seed``), augmentation draws from
    (``seed``, ``epoch``, index); pin_memory on CUDA."""
    torch = import_torch()
    require_nonempty(split)
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return torch.utils.data.DataLoader(
        torch_dataset(split, pre, augment, seed, epoch), batch_size=batch_size, shuffle=shuffle,
        num_workers=num_workers, pin_memory=str(device).startswith("cuda"), generator=gen, persistent_workers=False,
        collate_fn=batch_as_is,
    )
