"""Per-kind calibration and operating points.

One linear model per category scores every kind of text (title, post, comment), but the
same score does not mean the same thing on a trending title as on a comment: the harmful
heads learn from posts and comments, where positives are common, and a trending title is
rarely harmful. So each category is calibrated, and its thresholds chosen, on the
out-of-fold scores of each kind's own labeled rows:

- `calibrated`: the kind has at least `min_positives` positives and negatives: Platt
  scaling and every operating point on that kind's rows alone;
- `prior_shift`: the kind has labeled rows (at least MIN_ROWS_FOR_PRIOR) but too few
  positives to choose a threshold that meets any profile's target: no profile flags on that
  kind, and where the pooled calibration's mean probability over those rows falls outside
  the 95% Jeffreys interval of their positive rate, its intercept is shifted so that the
  mean equals the rate's point estimate (p + ½) / (n + 1) (a prior-shift correction,
  Saerens et al. 2002); inside the interval the pooled calibration is kept;
- `pooled`: no labeled rows of that kind: the pooled calibration and thresholds, not
  validated on the kind (the model card says so);
- `not_applicable`: the taxonomy says the category does not apply to the kind: no score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.stats import beta
from sklearn.linear_model import LogisticRegression

from qinglang.data.taxonomy import KINDS
from qinglang.models.thresholds import ProfileSet, operating_point

MIN_ROWS_FOR_PRIOR = 100
STATUSES = ("calibrated", "prior_shift", "pooled", "not_applicable")


@dataclass
class KindFit:
    """How one category is calibrated for one kind, from how many labeled rows."""

    kind: str
    status: str
    n_known: int
    n_positive: int
    a: float
    b: float
    operating_points: dict[str, dict] = field(default_factory=dict)
    mean_probability: float | None = None  # over the kind's labeled rows, out of fold


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def platt(y: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    model = LogisticRegression(C=1e4, solver="lbfgs").fit(z.reshape(-1, 1), y)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def prior_shift(a: float, b: float, z: np.ndarray, target: float) -> float:
    """The intercept b' such that the mean of sigmoid(a·z + b') over `z` is `target`."""
    lo, hi = b - 60.0, b + 60.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if sigmoid(a * z + mid).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def fit_kinds(
    y: np.ndarray, z: np.ndarray, kinds: np.ndarray, pooled: KindFit, profiles: ProfileSet, min_positives: int
) -> tuple[dict[str, dict], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per kind in KINDS, a KindFit (as a dict) for the labeled rows `y` with out-of-fold
    scores `z` and row kinds `kinds`; `pooled` carries the all-rows calibration and points.
    Also, per kind with labeled rows, (labels, out-of-fold calibrated probabilities): the
    validation data a share estimator (trending.prevalence) is fitted on. Kinds the category
    does not apply to are marked by the caller, not here."""
    out, validation = {}, {}
    for kind in KINDS:
        rows = kinds == kind
        n, p = int(rows.sum()), int(y[rows].sum())
        if p >= min_positives and n - p >= min_positives:
            a, b = platt(y[rows], z[rows])
            prob = sigmoid(a * z[rows] + b)
            points = {name: asdict(operating_point(y[rows], prob, rule)) for name, rule in profiles.rules.items()}
            fit = KindFit(kind, "calibrated", n, p, a, b, points, float(prob.mean()))
        elif n >= MIN_ROWS_FOR_PRIOR:
            b = _shifted_intercept(pooled, z[rows], n, p)
            never = {name: _never() for name in profiles.rules}
            fit = KindFit(kind, "prior_shift", n, p, pooled.a, b, never, float(sigmoid(pooled.a * z[rows] + b).mean()))
        else:
            fit = KindFit(kind, "pooled", n, p, pooled.a, pooled.b, dict(pooled.operating_points))
        out[kind] = asdict(fit)
        if n:
            validation[kind] = (y[rows].astype(np.int8), sigmoid(fit.a * z[rows] + fit.b).astype(np.float32))
    return out, validation


def _shifted_intercept(pooled: KindFit, z: np.ndarray, n: int, p: int) -> float:
    """The pooled intercept, moved only when the pooled mean contradicts the observed rate."""
    low, high = beta.ppf([0.025, 0.975], p + 0.5, n - p + 0.5)
    mean = float(sigmoid(pooled.a * z + pooled.b).mean())
    if low <= mean <= high:
        return pooled.b
    return prior_shift(pooled.a, pooled.b, z, (p + 0.5) / (n + 1))


def _never() -> dict:
    return {"threshold": float("inf"), "reached": False, "precision": float("nan"), "recall": 0.0}
