"""Image batch layouts: NHWC (Keras) and NCHW (torch), and the one conversion between them.

Layer 0: numpy only.
"""

from __future__ import annotations

import numpy as np

LAYOUTS = ("NHWC", "NCHW")
FRAMEWORK_LAYOUT = {"torch": "NCHW", "tf": "NHWC"}


def to_layout(x: np.ndarray, layout: str, *, source: str = "NHWC") -> np.ndarray:
    """A batch in ``source`` layout as ``layout``, with that layout's standard strides.

    ``copy()`` rather than ``ascontiguousarray``: numpy counts a one-channel transpose contiguous and keeps it, and
    torch reads those strides as channels-last and picks other kernels than for an ordinary NCHW batch. A layout
    may also be given as a framework name (torch -> NCHW, tf -> NHWC).
    """
    layout, source = FRAMEWORK_LAYOUT.get(layout, layout), FRAMEWORK_LAYOUT.get(source, source)
    for value in (layout, source):
        if value not in LAYOUTS:
            raise ValueError(f"layout must be 'NHWC' or 'NCHW', got {value!r}")
    if layout == source:
        return x
    axes = (0, 3, 1, 2) if layout == "NCHW" else (0, 2, 3, 1)
    return np.asarray(x).transpose(axes).copy()
