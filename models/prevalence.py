"""How much of a list is in each category: share estimates that are not classify-and-count.

Counting flags is biased by the threshold: at a high-recall operating point it counts
many false positives, at a high-precision one it misses most positives, and the bias
changes with the prevalence itself. Two estimators that correct for this:

- `mean_probability` (the default): the mean of the calibrated probabilities, the
  expected share when the probabilities are calibrated on data like the list. Its
  interval is a parametric bootstrap over labels: each replicate draws every entry's
  label from Bernoulli(p) and takes the share, so it says how far the true share of
  these very entries can lie from the estimate if the calibration holds.
- `adjusted_count` (Forman's adjusted classify-and-count): (flag rate - FPR) /
  (TPR - FPR), with TPR and FPR of the operating point measured on the model's
  out-of-fold validation rows. Its interval is a parametric bootstrap of those rates
  (binomial on the validation counts), the estimator's main source of error.

Neither interval covers a shift between the validation data and the list; the audit
measures that on people's labels (the labeled trending dev split) and reports it.

Estimates are computed from additive per-group sufficient statistics (`ShareCounts`), so
a day, a day's top 10 and a month use the same code and months are sums of days."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    def combine(self, group_of: np.ndarray, n_groups: int) -> "ShareCounts":
        """Sum groups into coarser ones (e.g. days into months): `group_of[g]` is the new
        group of old group g."""
        def summed(a: np.ndarray) -> np.ndarray:
            out = np.zeros((n_groups, *a.shape[1:]), dtype=a.dtype)
            np.add.at(out, group_of, a)
            return out

        return ShareCounts(summed(self.n), summed(self.prob_sum), summed(self.flagged), summed(self.draws))


def count_shares(proba: np.ndarray, thresholds: np.ndarray, group: np.ndarray, n_groups: int, n_boot: int, seed: int) -> ShareCounts:
    """Statistics of the rows of `proba` (n, K) in groups `group` (n,) of 0..n_groups-1.

    Label draws come from one generator seeded by `seed` and consumed group by group in
    order, so the same rows, groups and seed give the same intervals."""
    proba = np.asarray(proba, dtype=float)
    group = np.asarray(group)
    n_rows, k = proba.shape
    if group.shape != (n_rows,):
        raise ValueError(f"group has shape {group.shape}, expected ({n_rows},)")
    if n_rows and (group.min() < 0 or group.max() >= n_groups):
        raise ValueError(f"group ids must lie in 0..{n_groups - 1}")
    untrained = np.isnan(proba).all(axis=0) if n_rows else np.zeros(k, dtype=bool)
    n = np.bincount(group, minlength=n_groups).astype(np.int64)
    order = np.argsort(group, kind="stable")
    sorted_p = np.nan_to_num(proba[order])
    starts = np.concatenate([[0], np.cumsum(n)])[:-1]
    present = np.flatnonzero(n)
    prob_sum = np.zeros((n_groups, k))
    flagged = np.zeros((n_groups, k), dtype=np.int64)
    if present.size:
        prob_sum[present] = np.add.reduceat(sorted_p, starts[present], axis=0)
        flagged[present] = np.add.reduceat((proba[order] >= thresholds).astype(np.int64), starts[present], axis=0)
    prob_sum[:, untrained] = np.nan
    draws = np.zeros((n_groups, k, n_boot), dtype=np.int32)
    rng = np.random.default_rng(seed)
    p32 = sorted_p.astype(np.float32)
    for g in present:
        rows = p32[starts[g]:starts[g] + n[g]]
        draws[g] = (rng.random((rows.shape[0], k, n_boot), dtype=np.float32) < rows[:, :, None]).sum(axis=0)
    return ShareCounts(n, prob_sum, flagged, draws)


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

    def estimate(self, counts: ShareCounts) -> Estimate:
        n = counts.n.astype(float)[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = counts.prob_sum / n
            replicates = counts.draws / n[:, :, None]
        low, high = _interval(replicates, self.level)
        dead = np.isnan(share)
        low[dead] = high[dead] = np.nan
        return Estimate(share, low, high)


class AdjustedCount:
    """`tpr`, `fpr` (K,) of the operating point on validation rows, with the validation
    positives and negatives they were measured on; NaN where unknown."""

    name = "adjusted_count"

    def __init__(self, tpr: np.ndarray, fpr: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> None:
        self.tpr, self.fpr = np.asarray(tpr, float), np.asarray(fpr, float)
        self.level = level
        rng = np.random.default_rng(seed)
        ok = np.isfinite(self.tpr) & np.isfinite(self.fpr) & (np.asarray(n_pos) > 0) & (np.asarray(n_neg) > 0)
        pos, neg = np.where(ok, n_pos, 1).astype(int), np.where(ok, n_neg, 1).astype(int)
        self.tpr_boot = rng.binomial(pos[:, None], np.where(ok, self.tpr, 0)[:, None], (len(pos), n_boot)) / pos[:, None]
        self.fpr_boot = rng.binomial(neg[:, None], np.where(ok, self.fpr, 0)[:, None], (len(neg), n_boot)) / neg[:, None]
        self.tpr_boot[~ok] = self.fpr_boot[~ok] = np.nan

    @classmethod
    def from_model(cls, classifier: MultiCategoryClassifier, profile: str | None = None, n_boot: int = 200, seed: int = 0) -> "AdjustedCount":
        """TPR and FPR of `profile`'s operating point from each category's fit record."""
        profile = profile or classifier.default_profile_
        classifier.profile_thresholds(profile)
        fits = [classifier.category_fits_[k] for k in classifier.categories_]
        tpr, fpr, n_pos, n_neg = (np.full(len(fits), np.nan) for _ in range(4))
        for j, fit in enumerate(fits):
            point = fit.operating_points.get(profile)
            if not fit.trained or not point or not np.isfinite(point["threshold"]):
                continue
            tp = point["recall"] * fit.n_positive
            precision = point["precision"]
            fp = tp * (1 - precision) / precision if precision and np.isfinite(precision) else np.nan
            tpr[j], fpr[j] = point["recall"], fp / (fit.n_known - fit.n_positive)
            n_pos[j], n_neg[j] = fit.n_positive, fit.n_known - fit.n_positive
        return cls(tpr, fpr, n_pos, n_neg, n_boot=n_boot, seed=seed)

    def estimate(self, counts: ShareCounts) -> Estimate:
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = counts.flagged / counts.n.astype(float)[:, None]
            share = _adjust(rate, self.tpr, self.fpr)
            replicates = _adjust(rate[:, :, None], self.tpr_boot[None], self.fpr_boot[None])
        low, high = _interval(replicates, self.level)
        dead = np.isnan(share)
        low[dead] = high[dead] = np.nan
        return Estimate(share, low, high)


def estimator_for(name: str, classifier: MultiCategoryClassifier, profile: str | None = None, n_boot: int = 200, seed: int = 0) -> MeanProbability | AdjustedCount:
    if name == "mean_probability":
        return MeanProbability()
    if name == "adjusted_count":
        return AdjustedCount.from_model(classifier, profile, n_boot=n_boot, seed=seed)
    raise ValueError(f"unknown share estimator {name!r}; choose one of {', '.join(ESTIMATORS)}")


def _adjust(rate: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    separation = tpr - fpr
    adjusted = np.clip((rate - fpr) / separation, 0.0, 1.0)
    return np.where(separation >= _MIN_SEPARATION, adjusted, np.nan)


def _interval(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the last axis; NaN where the replicates are NaN or absent."""
    if replicates.shape[-1] == 0:
        return np.full(replicates.shape[:-1], np.nan), np.full(replicates.shape[:-1], np.nan)
    alpha = (1 - level) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha], axis=-1)
    return low, high
