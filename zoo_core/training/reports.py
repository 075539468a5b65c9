"""The files a run or an evaluation leaves: their names, the curves and confusion-matrix plots (PNG)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write

STATE_NAME = "training_state"  # + ".pt" (torch) or ".npz" (tf)
HISTORY_NAME = "history.json"
CURVES_NAME = "curves.png"
REPORT_NAME = "report.json"
CONFUSION_NAME = "confusion.png"
INTERRUPTED_NAME = "interrupted"  # checkpoint of the weights when Ctrl-C arrived mid-epoch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    epochs = history["epoch"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key in ("train_loss", "val_loss"):
        if any(v is not None for v in history.get(key, [])):
            ax1.plot(epochs, history[key], marker="o", label=key)
    for key in ("train_acc", "val_acc"):
        if any(v is not None for v in history.get(key, [])):
            ax2.plot(epochs, history[key], marker="o", label=key)
    ax1.set_xlabel("epoch")
    ax1.set_title("loss")
    ax2.set_xlabel("epoch")
    ax2.set_title("accuracy")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path) -> None:
    plt = _pyplot()
    k = len(classes)
    size = min(3 + 0.4 * k, 20)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), labels=list(classes), rotation=90 if k > 10 else 0)
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    _save_fig(fig, path)
    plt.close(fig)


def _save_fig(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    atomic_write(path, buf.getvalue())
