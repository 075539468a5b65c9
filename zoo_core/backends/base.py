"""What a framework backend provides: the protocol ``torch_backend`` and ``tf_backend`` implement as modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np


class Backend(Protocol):
    """One framework's adapter. Layouts: torch models take NCHW input, Keras models NHWC."""

    def import_framework(self) -> Any:
        """Import the framework safely (the TensorFlow/triton order) and return it."""

    def is_model(self, obj: Any) -> bool:
        """Whether ``obj`` is a model of this framework."""

    def count_params(self, model: Any) -> int:
        """Learnable parameters (trainable or frozen), not normalisation statistics."""

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        """Logits for one float batch in the framework's layout, in inference mode."""

    def predictor(self, model: Any) -> Callable[[Any], Any]:
        """A fast repeated-batch version of :meth:`predict` (compiled graph / inference mode)."""

    def to_canonical(self, model: Any) -> dict[str, np.ndarray]:
        """The weights as canonical (torch state_dict) names and layouts."""

    def from_canonical(self, model: Any, tensors: dict[str, np.ndarray],
                       strict: bool = True) -> tuple[list[str], list[str]]:
        """Assign canonical tensors (every shape checked first); returns (missing, unexpected) keys."""

    def set_frozen(self, model: Any, is_frozen: Callable[[str], bool]) -> None:
        """Freeze the tensors whose canonical key ``is_frozen`` accepts (normalisation layers included)."""

    def parameters(self, model: Any) -> list[tuple[str, int, bool]]:
        """(canonical key, size, trainable) of every learnable tensor."""

    def seed(self, value: int) -> None:
        """Seed Python, numpy and the framework."""

    def input_layout(self) -> str:
        """``"NCHW"`` or ``"NHWC"``."""


ATTRIBUTES = tuple(name for name in Backend.__dict__ if not name.startswith("_"))
