"""Decision thresholds chosen on validation scores (out-of-fold here), never on test data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve


@dataclass(frozen=True)
class ThresholdRule:
    """`f1`: maximise F1. `precision`: lowest threshold reaching precision >= target (falls
    back to best F1 when unreachable). `recall`: highest threshold keeping recall >= target."""

    strategy: str = "f1"
    target: float | None = None

    def __post_init__(self) -> None:
        if self.strategy not in ("f1", "precision", "recall"):
            raise ValueError(f"threshold strategy {self.strategy!r} is not one of f1, precision, recall")
        if self.strategy != "f1" and (self.target is None or not 0 < self.target <= 1):
            raise ValueError(f"threshold strategy {self.strategy!r} needs a target in (0, 1]")


def choose_threshold(y_true: np.ndarray, scores: np.ndarray, rule: ThresholdRule) -> tuple[float, bool]:
    """Return (threshold, reached): `reached` is False when a precision/recall target could
    not be met and best-F1 was used instead."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    precision, recall = precision[:-1], recall[:-1]
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    best_f1 = float(thresholds[int(np.argmax(f1))])
    if rule.strategy == "f1":
        return best_f1, True
    if rule.strategy == "precision":
        ok = np.flatnonzero(precision >= rule.target)
        return (float(thresholds[ok[0]]), True) if ok.size else (best_f1, False)
    ok = np.flatnonzero(recall >= rule.target)
    return (float(thresholds[ok[-1]]), True) if ok.size else (best_f1, False)
