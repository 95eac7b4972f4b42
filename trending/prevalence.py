"""How much of a list is in each category: share estimates that are not classify-and-count.

Counting flags is biased by the threshold: at a high-recall operating point it counts
many false positives, at a high-precision one it misses most positives, and the bias
changes with the prevalence itself. Two estimators that correct for this:

- `mean_probability` (the default): the mean of the calibrated probabilities, the
  expected share when the probabilities are calibrated on data like the list. Its
  interval is a parametric bootstrap over labels: each replicate draws every item's label
  once from Bernoulli(p) (a title seen in several snapshots is one item) and takes the
  share, so it says how far the true share of these very entries can lie from the
  estimate if the calibration holds.
- `adjusted_count` (Forman's adjusted classify-and-count): (flag rate - FPR) /
  (TPR - FPR), with TPR and FPR of the operating point measured on the model's
  out-of-fold validation rows. Its interval is a parametric bootstrap of those rates
  (binomial on the validation counts), the estimator's main source of error.

Neither interval covers a shift between the validation data and the list; the audit
measures that on people's labels (the labeled trending dev split) and reports it.

Estimates are computed from additive per-group sufficient statistics (`ShareCounts`), so
a day, a day's top 10 and a month use the same code and months are sums of days."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from qinglang.models.multilabel import MultiCategoryClassifier

ESTIMATORS = ("mean_probability", "adjusted_count")
_MIN_SEPARATION = 0.1  # TPR - FPR below this makes the adjusted count too unstable to report


@dataclass
class ShareCounts:
    """Per group g and category k: entries `n[g]`, sum of probabilities `prob_sum[g, k]`,
    flags `flagged[g, k]`, and per bootstrap replicate b the number of entries whose drawn
    label is positive, `draws[g, k, b]`. Untrained categories have NaN sums."""

    n: np.ndarray
    prob_sum: np.ndarray
    flagged: np.ndarray
    draws: np.ndarray

    def combine(self, group_of: np.ndarray, n_groups: int) -> ShareCounts:
        """Sum groups into coarser ones (e.g. days into months): `group_of[g]` is the new
        group of old group g."""

        def summed(a: np.ndarray) -> np.ndarray:
            out = np.zeros((n_groups, *a.shape[1:]), dtype=a.dtype)
            np.add.at(out, group_of, a)
            return out

        return ShareCounts(summed(self.n), summed(self.prob_sum), summed(self.flagged), summed(self.draws))


@dataclass(frozen=True)
class RowGroups:
    """Which of the groups 0..n_groups-1 each row is in (`group`, (n,)), and which rows are
    the same item with one true label (`unit`, (n,)), e.g. the snapshots of one title.
    Default: every row is its own unit."""

    group: np.ndarray
    n_groups: int
    unit: np.ndarray | None = None


def count_shares(proba: np.ndarray, thresholds: np.ndarray, rows: RowGroups, n_boot: int, seed: int) -> ShareCounts:
    """Statistics of the rows of `proba` (n, K) in the groups of `rows`.

    Each bootstrap replicate draws one label per unit and counts it once per row, in every
    group, so repeated rows widen the interval as they should and coarser groups (sums of
    days) stay consistent. `n_boot=0` skips the draws. Draws are made unit by unit in
    sorted unit order from one generator seeded by `seed`: the same rows, units, groups and
    seed give the same intervals."""
    proba = np.asarray(proba, dtype=float)
    group, n_groups = np.asarray(rows.group), rows.n_groups
    n_rows, k = proba.shape
    if group.shape != (n_rows,):
        raise ValueError(f"group has shape {group.shape}, expected ({n_rows},)")
    if n_rows and (group.min() < 0 or group.max() >= n_groups):
        raise ValueError(f"group ids must lie in 0..{n_groups - 1}")
    untrained = np.isnan(proba).all(axis=0) if n_rows else np.zeros(k, dtype=bool)
    n = np.bincount(group, minlength=n_groups).astype(np.int64)
    filled = np.nan_to_num(proba)
    prob_sum = np.zeros((n_groups, k))
    flagged = np.zeros((n_groups, k), dtype=np.int64)
    if n_rows:
        order = np.argsort(group, kind="stable")
        starts = np.concatenate([[0], np.cumsum(n)])[:-1]
        present = np.flatnonzero(n)
        prob_sum[present] = np.add.reduceat(filled[order], starts[present], axis=0)
        flagged[present] = np.add.reduceat((proba[order] >= thresholds).astype(np.int64), starts[present], axis=0)
    prob_sum[:, untrained] = np.nan
    unit = np.arange(n_rows) if rows.unit is None else np.asarray(rows.unit)
    draws = _label_draws(filled, group, n_groups, n_boot, seed, unit)
    return ShareCounts(n, prob_sum, flagged, draws)


_UNITS_PER_CHUNK = 4096  # bounds the (units, K, replicates) block of random numbers to ~40 MB


def _label_draws(
    proba: np.ndarray, group: np.ndarray, n_groups: int, n_boot: int, seed: int, unit: np.ndarray
) -> np.ndarray:
    """(G, K, B): per group, the number of rows whose unit's drawn label is positive."""
    n_rows, k = proba.shape
    if n_boot == 0 or n_rows == 0:
        return np.zeros((n_groups, k, n_boot), dtype=np.int32)
    if unit.shape != (n_rows,):
        raise ValueError(f"unit has shape {unit.shape}, expected ({n_rows},)")
    units, first, unit_code = np.unique(unit, return_index=True, return_inverse=True)
    unit_p = proba[first].astype(np.float32)  # rows of one unit share its probabilities
    weights = sp.csc_matrix((np.ones(n_rows, dtype=np.float32), (group, unit_code)), shape=(n_groups, len(units)))
    rng = np.random.default_rng(seed)
    total = np.zeros((n_groups, k * n_boot), dtype=np.float64)
    for lo in range(0, len(units), _UNITS_PER_CHUNK):
        hi = min(lo + _UNITS_PER_CHUNK, len(units))
        labels = rng.random((hi - lo, k, n_boot), dtype=np.float32) < unit_p[lo:hi, :, None]
        total += weights[:, lo:hi] @ labels.reshape(hi - lo, k * n_boot).astype(np.float32)
    return np.rint(total).astype(np.int32).reshape(n_groups, k, n_boot)


@dataclass(frozen=True)
class Estimate:
    """(G, K) share, and the lower and upper ends of its `level` bootstrap interval; NaN
    where a group is empty or a category cannot be estimated."""

    share: np.ndarray
    low: np.ndarray
    high: np.ndarray


class MeanProbability:
    name = "mean_probability"

    def __init__(self, level: float = 0.95) -> None:
        self.level = level

    def subset(self, columns: list[int]) -> MeanProbability:
        return self

    def estimate(self, counts: ShareCounts) -> Estimate:
        n = counts.n.astype(float)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = counts.prob_sum / n
            replicates = counts.draws / n[:, :, None]
        low, high = _interval(replicates, self.level)
        dead = np.isnan(share)
        low[dead] = high[dead] = np.nan
        return Estimate(share, low, high)


@dataclass(frozen=True)
class ValidationRates:
    """`tpr`, `fpr` (K,) of an operating point on validation rows, with the validation
    positives `n_pos` and negatives `n_neg` they were measured on; NaN where unknown."""

    tpr: np.ndarray
    fpr: np.ndarray
    n_pos: np.ndarray
    n_neg: np.ndarray


class AdjustedCount:
    """Adjusted count with the operating point's validation `rates`; `n_boot` binomial
    replicates of those rates, drawn from a generator seeded by `seed`, give the interval."""

    name = "adjusted_count"

    def __init__(self, rates: ValidationRates, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> None:
        self.tpr, self.fpr = np.asarray(rates.tpr, float), np.asarray(rates.fpr, float)
        self.level = level
        rng = np.random.default_rng(seed)
        n_pos, n_neg = rates.n_pos, rates.n_neg
        ok = np.isfinite(self.tpr) & np.isfinite(self.fpr) & (np.asarray(n_pos) > 0) & (np.asarray(n_neg) > 0)
        pos, neg = np.where(ok, n_pos, 1).astype(int), np.where(ok, n_neg, 1).astype(int)
        self.tpr_boot = (
            rng.binomial(pos[:, None], np.where(ok, self.tpr, 0)[:, None], (len(pos), n_boot)) / pos[:, None]
        )
        self.fpr_boot = (
            rng.binomial(neg[:, None], np.where(ok, self.fpr, 0)[:, None], (len(neg), n_boot)) / neg[:, None]
        )
        self.tpr_boot[~ok] = self.fpr_boot[~ok] = np.nan

    @classmethod
    def from_model(
        cls, classifier: MultiCategoryClassifier, profile: str | None = None, n_boot: int = 200, seed: int = 0
    ) -> AdjustedCount:
        """TPR and FPR of `profile`'s operating point from each category's fit record."""
        profile = profile or classifier.default_profile_
        classifier.profile_thresholds(profile)
        fits = [classifier.category_fits_[k] for k in classifier.categories_]
        tpr, fpr, n_pos, n_neg = (np.full(len(fits), np.nan) for _ in range(4))
        for j, fit in enumerate(fits):
            point = fit.operating_points.get(profile)
            if not fit.trained or not point or not np.isfinite(point["threshold"]) or fit.n_known <= fit.n_positive:
                continue
            tp = point["recall"] * fit.n_positive
            precision = point["precision"]
            fp = tp * (1 - precision) / precision if precision and np.isfinite(precision) else np.nan
            tpr[j], fpr[j] = point["recall"], fp / (fit.n_known - fit.n_positive)
            n_pos[j], n_neg[j] = fit.n_positive, fit.n_known - fit.n_positive
        return cls(ValidationRates(tpr, fpr, n_pos, n_neg), n_boot=n_boot, seed=seed)

    def subset(self, columns: list[int]) -> AdjustedCount:
        """The estimator for these categories only (counts with just those columns)."""
        part = copy.copy(self)
        part.tpr, part.fpr, part.tpr_boot, part.fpr_boot = (
            self.tpr[columns],
            self.fpr[columns],
            self.tpr_boot[columns],
            self.fpr_boot[columns],
        )
        return part

    def estimate(self, counts: ShareCounts) -> Estimate:
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = counts.flagged / counts.n.astype(float)[:, None]
            share = _adjust(rate, self.tpr, self.fpr)
            replicates = _adjust(rate[:, :, None], self.tpr_boot[None], self.fpr_boot[None])
        low, high = _interval(replicates, self.level)
        dead = np.isnan(share)
        low[dead] = high[dead] = np.nan
        return Estimate(share, low, high)


def estimator_for(
    name: str, classifier: MultiCategoryClassifier, profile: str | None = None, n_boot: int = 200, seed: int = 0
) -> MeanProbability | AdjustedCount:
    if name == "mean_probability":
        return MeanProbability()
    if name == "adjusted_count":
        return AdjustedCount.from_model(classifier, profile, n_boot=n_boot, seed=seed)
    raise ValueError(f"unknown share estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")


def _adjust(rate: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    separation = tpr - fpr
    adjusted = np.clip((rate - fpr) / separation, 0.0, 1.0)
    return np.where(separation >= _MIN_SEPARATION, adjusted, np.nan)


_MAX_NAN_REPLICATES = 0.05  # more unestimable replicates than this and the interval is unknown


def _interval(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the last axis, ignoring up to 5% of replicates that could
    not be estimated (an adjusted count whose bootstrapped TPR - FPR fell below the
    separation floor); NaN beyond that, or without replicates."""
    shape = replicates.shape[:-1]
    if replicates.shape[-1] == 0:
        return np.full(shape, np.nan), np.full(shape, np.nan)
    alpha = (1 - level) / 2
    missing = np.isnan(replicates).mean(axis=-1)
    usable = missing <= _MAX_NAN_REPLICATES
    low, high = np.full(shape, np.nan), np.full(shape, np.nan)
    if usable.any():
        q = np.nanquantile(replicates[usable], [alpha, 1 - alpha], axis=-1)
        low[usable], high[usable] = q[0], q[1]
    return low, high
