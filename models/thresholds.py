"""Decision thresholds chosen on validation scores (out-of-fold here), never on test data.

A model carries several named operating points ("profiles") per category, e.g. `review`
(high recall, for a human queue) and `auto` (high precision, for automatic action), so a
caller picks the trade-off at prediction time without retraining."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve

STRATEGIES = ("f1", "macro_f1", "precision", "recall")
TARGETED = ("precision", "recall")


@dataclass(frozen=True)
class ThresholdRule:
    """`f1`: maximise F1 of the positive class. `macro_f1`: maximise the mean F1 of both
    classes, which also counts the texts wrongly flagged among the many negatives; for a
    category with about as many positives as negatives it is what accuracy-minded users
    expect, for a rare category it is close to `f1`.
    `precision`: lowest threshold reaching precision >= target.
    `recall`: highest threshold keeping recall >= target. When a target cannot be met,
    `unreachable` decides: `best_f1` falls back to the best-F1 threshold, `never` disables
    the category for this profile (nothing is flagged), the safe choice for automatic action."""

    strategy: str = "f1"
    target: float | None = None
    unreachable: str = "best_f1"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"threshold strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if self.strategy in TARGETED and (self.target is None or not 0 < self.target <= 1):
            raise ValueError(f"threshold strategy {self.strategy!r} needs a target in (0, 1]")
        if self.unreachable not in ("best_f1", "never"):
            raise ValueError(f"unreachable {self.unreachable!r} is not one of best_f1, never")


# The shipped operating points, defined once: the estimators' default, the training config's
# default (training/config.py) and training/configs/default.yaml all equal this (a test checks).
DEFAULT_PROFILE = "balanced"
DEFAULT_PROFILES: dict[str, ThresholdRule] = {
    "balanced": ThresholdRule("macro_f1"),  # best mean F1 of flagged and not flagged
    "review": ThresholdRule("recall", 0.9),  # human review queue
    "auto": ThresholdRule("precision", 0.9, unreachable="never"),  # automatic action
}


@dataclass(frozen=True)
class ProfileSet:
    """The operating points a model chooses thresholds for, and `default`, the one used
    when a caller names none."""

    rules: Mapping[str, ThresholdRule]
    default: str

    @classmethod
    def of(cls, rules: Mapping[str, ThresholdRule] | None, default: str) -> ProfileSet:
        """`rules` (None: the shipped DEFAULT_PROFILES), checked to contain `default`."""
        rules = dict(rules or DEFAULT_PROFILES)
        if default not in rules:
            raise ValueError(f"default_profile {default!r} is not one of the threshold profiles {sorted(rules)}")
        return cls(rules, default)


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold with what it achieved on validation data; `reached` is False when the
    rule's target could not be met (see ThresholdRule.unreachable)."""

    threshold: float
    reached: bool
    precision: float
    recall: float


def choose_threshold(y_true: np.ndarray, scores: np.ndarray, rule: ThresholdRule) -> tuple[float, bool]:
    """Return (threshold, reached); the threshold is +inf when the target is unreachable
    and the rule says `never`."""
    precision, recall, thresholds = precision_recall_curve(y_true, scores)
    precision, recall = precision[:-1], recall[:-1]
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    best_f1 = float(thresholds[int(np.argmax(f1))])
    if rule.strategy == "f1":
        return best_f1, True
    if rule.strategy == "macro_f1":
        return float(thresholds[int(np.argmax(f1 + _negative_f1(y_true, scores, thresholds)))]), True
    if rule.strategy == "precision":
        ok = np.flatnonzero(precision >= rule.target)
        index = ok[0] if ok.size else None
    else:
        ok = np.flatnonzero(recall >= rule.target)
        index = ok[-1] if ok.size else None
    if index is not None:
        return float(thresholds[index]), True
    return (best_f1 if rule.unreachable == "best_f1" else float("inf")), False


def _negative_f1(y_true: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """F1 of the negative class when flagging scores >= each threshold."""
    y_true = np.asarray(y_true)
    pos = np.sort(scores[y_true == 1])
    neg = np.sort(scores[y_true != 1])
    fn = np.searchsorted(pos, thresholds, side="left")  # positives below the threshold
    tn = np.searchsorted(neg, thresholds, side="left")
    fp = len(neg) - tn
    return 2 * tn / np.maximum(2 * tn + fp + fn, 1)


def flag_mask(scores: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """The one rule for a flag: a score at or above its category's threshold. NaN scores
    (untrained categories) compare False and untrained thresholds are +inf, so neither
    ever flags. Every flag in the product (scoring, serving, audit, re-rank) comes from here."""
    return np.asarray(scores) >= thresholds


def flags_at(scores: np.ndarray, thresholds: np.ndarray | float) -> np.ndarray:
    """`flag_mask` as 0/1 int8, the form of the `flag_K` columns."""
    return flag_mask(scores, thresholds).astype(np.int8)


def operating_point(y_true: np.ndarray, scores: np.ndarray, rule: ThresholdRule) -> OperatingPoint:
    threshold, reached = choose_threshold(y_true, scores, rule)
    flags = flag_mask(scores, threshold)
    tp = int((flags & (y_true == 1)).sum())
    return OperatingPoint(
        threshold, reached, tp / flags.sum() if flags.sum() else float("nan"), tp / max(int(y_true.sum()), 1)
    )
