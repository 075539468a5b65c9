"""Classification metrics in numpy: loss, accuracy, top-5, per-class precision/recall/F1, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean()) if len(labels) else float("nan")


def classification_report(logits: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, top-5 (with >= 5 classes), loss, per-class precision/recall/F1/support, confusion matrix."""
    k = len(classes)
    labels = np.asarray(labels, np.int64)
    pred = logits.argmax(axis=1) if len(labels) else np.zeros(0, np.int64)
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (labels, pred), 1)
    report: dict[str, Any] = {"n": int(len(labels)), "accuracy": float((pred == labels).mean()) if len(labels) else
                              float("nan"), "loss": cross_entropy(logits, labels)}
    if k >= 5:
        top5 = np.argsort(-logits, axis=1)[:, :5]
        report["top5_accuracy"] = float((top5 == labels[:, None]).any(axis=1).mean())
    per_class = {}
    for i, name in enumerate(classes):
        tp = int(cm[i, i])
        p = tp / cm[:, i].sum() if cm[:, i].sum() else 0.0
        r = tp / cm[i, :].sum() if cm[i, :].sum() else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_class[name] = {"precision": float(p), "recall": float(r), "f1": float(f1), "support": int(cm[i].sum())}
    report["per_class"] = per_class
    report["macro_f1"] = float(np.mean([v["f1"] for v in per_class.values()])) if per_class else 0.0
    report["classes"] = list(classes)
    report["confusion_matrix"] = cm.tolist()
    return report
