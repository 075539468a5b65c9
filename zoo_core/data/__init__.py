"""Image-classification data for both frameworks.

- ``datasets``: built-in datasets and image folders, split into train/val/test.
- ``manifest`` / ``shards``: CSV/JSONL manifests and WebDataset-style tar shards; ``sources.open_dataset`` picks one.
- ``stream``: tar shards streamed through a shuffle buffer, disjoint per (rank, worker) reader slot.
- ``hfdatasets``: Hub datasets (``hf://datasets/OWNER/NAME[@REV]``, ``datasets.Dataset`` / ``DatasetDict``).
- ``images``: reading an image as the user sees it (EXIF, 16-bit, CMYK, palette, alpha).
- ``imageops``: timm's resize/crop/flip/jitter ops on PIL images with numpy randomness.
- ``preprocess``: the model's eval preprocessing in numpy/PIL (identical in torch and Keras, equal to timm's).
- ``transforms``: ``transform(model_or_name, train=False)``, the public eval/train transform.
- ``augment``: train-time augmentation, seeded per (run, epoch, image).
- ``loader``: ``batches(...)``, the one loader both frameworks' loops consume (Grain worker processes).
- ``mix``: batch-level mixup / cutmix with label-smoothed soft targets.
- ``torch_loader`` / ``tf_pipeline``: the framework data paths (each imports its framework on use).
"""

from __future__ import annotations

from ..errors import DataError
from .augment import Augment
from .datasets import (
    BUILTINS,
    IMAGE_EXTENSIONS,
    SPLIT_NAMES,
    Dataset,
    Split,
    builtin,
    image_folder,
    require_nonempty,
    split_indices,
)
from .hfdatasets import hf_dataset
from .images import read_image
from .loader import Batches, batches
from .manifest import manifest
from .mix import Mix
from .preprocess import Preprocess, as_arrays, augment_image, prepare
from .shards import shards
from .sources import open_dataset
from .stream import stream_shards
from .stream_split import StreamSplit, stream_dataset
from .tf_pipeline import augment_tf, tf_dataset
from .torch_loader import TorchSplitDataset, torch_dataset, torch_loader
from .transforms import Transform, train_image, transform

__all__ = [
    "BUILTINS", "IMAGE_EXTENSIONS", "SPLIT_NAMES", "Augment", "Batches", "Mix", "batches",
    "DataError", "Dataset", "Preprocess", "Split",
    "TorchSplitDataset", "as_arrays", "augment_image", "augment_tf", "builtin", "hf_dataset", "image_folder",
    "open_dataset", "prepare", "read_image", "require_nonempty", "split_indices", "stream_dataset", "stream_shards",
    "StreamSplit", "tf_dataset",
    "torch_dataset", "torch_loader", "Transform", "manifest", "shards", "train_image", "transform",
]
