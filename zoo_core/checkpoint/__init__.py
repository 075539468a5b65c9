"""One checkpoint format for both frameworks: a directory with ``model.safetensors`` + ``config.json``.

``format.py`` is the format as plain data (names, config.json, reading weights); ``resolve.py`` says which catalogue
entry a checkpoint is; ``io.py`` saves and loads models.
"""

from __future__ import annotations

from .format import CONFIG_NAME, WEIGHTS_NAME, read_config
from .io import convert, import_torch_file, load_dir, save

__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "convert", "import_torch_file", "load_dir", "read_config", "save"]
