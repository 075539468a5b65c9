"""Batch-level mixup and cutmix as timm's ``Mixup(mode="batch")`` does them, in numpy (so the same numbers in both
frameworks for a seed): one lambda per batch drawn from Beta(alpha, alpha), the batch mixed with itself reversed;
cutmix pastes a box of the reversed batch and corrects lambda to the pasted area; with both on, each batch picks
one with probability 1/2. Targets are soft float32 (N, classes): label smoothing is applied to the one-hot targets
before they are mixed (timm's ``mixup_target``), so the loss must not smooth again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ZooError

MIX_OPS = ("mixup", "cutmix")


@dataclass(frozen=True)
class Mix:
    """``mixup`` / ``cutmix``: Beta alphas (0 turns one off; timm's defaults 0.8 and 1.0); ``smoothing``: the label
    smoothing of the targets; ``prob``: the probability that a batch is mixed at all."""

    mixup: float = 0.8
    cutmix: float = 1.0
    smoothing: float = 0.0
    prob: float = 1.0

    @classmethod
    def parse(cls, spec: bool | str | Sequence[str] | Mix | None, smoothing: float = 0.0) -> Mix | None:
        """None/False/"none": off; True: mixup and cutmix; "mixup", "cutmix" or "mixup,cutmix"."""
        if spec is None or spec is False or spec in ("", "none"):
            return None
        if isinstance(spec, Mix):
            return spec
        if spec is True:
            return cls(smoothing=smoothing)
        names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
        unknown = [n for n in names if n not in MIX_OPS]
        if unknown or not names:
            raise ZooError(f"unknown mix {', '.join(unknown) or repr(spec)}; choose from: {', '.join(MIX_OPS)} "
                           "(comma-separated)")
        return cls(mixup=0.8 if "mixup" in names else 0.0, cutmix=1.0 if "cutmix" in names else 0.0,
                   smoothing=smoothing)

    def targets(self, y: np.ndarray, num_classes: int) -> np.ndarray:
        """One-hot targets with label smoothing (off = smoothing / classes, on = 1 - smoothing + off)."""
        off = self.smoothing / num_classes
        t = np.full((len(y), num_classes), off, np.float32)
        t[np.arange(len(y)), y] = 1.0 - self.smoothing + off
        return t

    def __call__(self, x: np.ndarray, y: np.ndarray, num_classes: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A batch (NHWC float32, int labels) mixed, with soft targets (N, num_classes)."""
        t = self.targets(y, num_classes)
        if len(y) == 0 or rng.random() >= self.prob:
            return x, t
        use_cutmix = self.cutmix > 0 and (self.mixup <= 0 or rng.random() < 0.5)
        lam = float(rng.beta(self.cutmix, self.cutmix) if use_cutmix else rng.beta(self.mixup, self.mixup))
        x = x.copy()
        if use_cutmix:
            h, w = x.shape[1:3]
            cut = np.sqrt(1.0 - lam)
            ch, cw = int(h * cut), int(w * cut)
            cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
            y0, y1 = np.clip(cy - ch // 2, 0, h), np.clip(cy + ch // 2, 0, h)
            x0, x1 = np.clip(cx - cw // 2, 0, w), np.clip(cx + cw // 2, 0, w)
            x[:, y0:y1, x0:x1] = x[::-1, y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
        else:
            x = (x * lam + x[::-1] * (1.0 - lam)).astype(np.float32)
        return x, (t * lam + t[::-1] * (1.0 - lam)).astype(np.float32)
