"""``python -m zoo_core``: the same as the ``zoo`` command (and what torchrun launches)."""

import sys

from .cli import main

sys.exit(main())
