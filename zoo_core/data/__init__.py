"""Image-classification data for both frameworks.

- ``datasets``: built-in datasets and image folders, split into train/val/test.
- ``preprocess``: the model's preprocessing in numpy/PIL (identical in torch and Keras).
- ``augment``: train-time augmentation, seeded per (run, epoch, image).
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
    open_dataset,
    require_nonempty,
    split_indices,
)
from .preprocess import Preprocess, as_arrays, augment_image, prepare
from .tf_pipeline import augment_tf, tf_dataset
from .torch_loader import TorchSplitDataset, torch_dataset, torch_loader

__all__ = [
    "BUILTINS", "IMAGE_EXTENSIONS", "SPLIT_NAMES", "Augment", "DataError", "Dataset", "Preprocess", "Split",
    "TorchSplitDataset", "as_arrays", "augment_image", "augment_tf", "builtin", "image_folder", "open_dataset",
    "prepare", "require_nonempty", "split_indices", "tf_dataset", "torch_dataset", "torch_loader",
]
