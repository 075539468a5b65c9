"""One checkpoint format for both frameworks: a directory with ``model.safetensors`` + ``config.json``.

``format.py`` is the format as plain data (names, config.json, reading weights); ``io.py`` saves and loads models.
"""

from __future__ import annotations

from ..fileio import atomic_write, sha256_file
from .format import (
    CARD_NAME,
    CONFIG_NAME,
    FORMAT_VERSION,
    PICKLE_NAMES,
    WEIGHTS_NAME,
    build_config,
    entry_from_config,
    read_config,
    read_weights,
)
from .io import convert, head_keys, import_torch_file, load_dir, save

__all__ = [
    "CARD_NAME", "CONFIG_NAME", "FORMAT_VERSION", "PICKLE_NAMES", "WEIGHTS_NAME", "atomic_write", "build_config",
    "convert", "entry_from_config", "head_keys", "import_torch_file", "load_dir", "read_config", "read_weights",
    "save", "sha256_file",
]
