"""How much of a list is in each category: quantification with quapy's aggregative
quantifiers on the model's own calibrated probabilities.

Counting flags is biased by the threshold: at a high-recall operating point it counts many
false positives, at a high-precision one it misses most positives, and the bias changes
with the prevalence itself. Quantifiers correct for this. Each is quapy's (0.2.3,
`quapy.method.aggregative`), fitted per category with `aggregation_fit` on the model's
*title* validation data: the labels and out-of-fold calibrated probabilities of the labeled
title rows, which `MultiCategoryClassifier.validation_[category]["title"]` stores. A list's
probabilities are its posteriors [1 - p, p]. The classifier is never refitted.

- `cc`, classify and count: the share flagged at the operating point. Biased; for
  comparison. No interval.
- `pcc` (alias `mean_probability`), probabilistic classify and count: the mean probability.
  Interval: a parametric bootstrap of labels, one Bernoulli(p) draw per unit (a title seen
  in several snapshots is one label), so it covers which titles are positive if the
  calibration holds, not calibration error.
- `acc` (alias `adjusted_count`), adjusted classify and count: (flag rate - FPR) / (TPR -
  FPR) with TPR and FPR of the operating point on the validation rows. Interval: binomial
  bootstrap of TPR and FPR (their estimation error, the main one on a long list).
- `pacc`, probabilistic ACC: the same with the mean probability of the positive and of the
  negative validation rows. Interval: the validation rows resampled within each class.
- `emq`, EM / SLD (Saerens, Latinne, Decaestecker 2002): the posteriors re-weighted for a
  prior shift from the validation prevalence until their mean is stable. No interval.
- `hdy`, HDy (González-Castro et al. 2013): the mix of the positive and negative validation
  histograms of p nearest the list's (Hellinger distance), median over 10..110 bins. No
  interval.

No interval covers a shift between the validation titles and the list: the audit's check
against labels and the backtests (`trending/backtest.py`) measure that.

A category whose title validation has fewer than MIN_CLASS_ROWS positives or negatives
(the harmful categories learn from posts and comments; trending titles are almost never
labeled harmful), or a model trained before validation data was stored, cannot fit the
adjusted quantifiers: `cc` and `pcc` still estimate it.

Speed: quapy aggregates one sample per call (HDy: 1,111 Python-level distance evaluations
per call), and an audit has thousands of days × scopes × categories. So shares of many
groups are computed here, vectorised, from what quapy fitted (ACC/PACC rates, EMQ's
training prevalence, HDy's class histograms); the unit tests check every estimator against
quapy's own `aggregate` on random data. ACC and PACC use quapy's exact solver (for two
classes the closed form; the default "minimize" approximates it with SLSQP) and give NaN
when TPR - FPR < 0.1, where quapy would return an unstable number."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin

from qinglang.data.taxonomy import TITLE
from qinglang.models.multilabel import MultiCategoryClassifier
from qinglang.models.thresholds import flag_mask

ESTIMATORS = ("cc", "pcc", "acc", "pacc", "emq", "hdy")
ALIASES = {"mean_probability": "pcc", "adjusted_count": "acc"}  # the names before quapy; still accepted
NEEDS_VALIDATION = ("acc", "pacc", "emq", "hdy")
WITH_INTERVAL = ("pcc", "acc", "pacc")
FALLBACK = "pcc"  # where a category cannot fit the chosen quantifier
# The default share estimators: the backtest's choice (`benchmarks/bench_share_backtest.py`,
# --fit full, seeds 0-4, default config of 2026-12-06 with trivial's topics;
# docs/trending_backtest.md "Shares"). Over celebrity_hype and trivial together the smallest
# worst-period error (mean over seeds) is pcc's, 5.8 points (cc 8.8, hdy 14.3, acc 15.7,
# emq 16.4, pacc 16.9); per category, celebrity_hype keeps pcc (worst 1.0) and trivial now
# takes pcc too (worst period 5.8, against pacc's 6.2: pacc is within 1 point in three
# periods and 6.2 off in 2023H2). Until 2026-12-05 trivial took pacc. A category the model
# does not have is ignored. `qinglang audit --backtest FILE` takes a fresh file's choices
# instead, --estimator one for every category.
DEFAULT_ESTIMATOR = "pcc"
DEFAULT_BY_CATEGORY: dict[str, str] = {}  # category -> estimator, where the backtest chose another
MIN_CLASS_ROWS = 10  # validation positives (and negatives) a quantifier is fitted on
HDY_BINS = tuple(range(10, 111, 10))  # quapy's HDy: 10, 20, ..., 110 bins
_HDY_GRID = np.linspace(0.0, 1.0, 100)  # quapy's linear_search grid (prevalence_linspace(100, smoothing 0))
_MIN_SEPARATION = 0.1  # TPR - FPR below this makes an adjusted count too unstable to report


def canonical_estimator(name: str) -> str:
    """`name` as one of ESTIMATORS (an alias maps to its estimator); a clear error otherwise."""
    key = ALIASES.get(name, name)
    if key not in ESTIMATORS:
        aliases = ", ".join(f"{a} = {e}" for a, e in ALIASES.items())
        raise ValueError(
            f"unknown share estimator {name!r}; choose one of {', '.join(ESTIMATORS)} (aliases: {aliases})"
        )
    return key


class Posteriors(ClassifierMixin, BaseEstimator):
    """Our classifier as quapy sees it, for one category: its input already is the
    posteriors [1 - p, p] (nothing is fitted), and its crisp prediction is the flag at
    `threshold` (the operating point's, `flag_mask`)."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def fit(self, X, y=None) -> Posteriors:
        return self

    def predict_proba(self, X) -> np.ndarray:
        return np.asarray(X, dtype=float)

    def predict(self, X) -> np.ndarray:
        return flag_mask(np.asarray(X)[:, 1], self.threshold).astype(int)


def as_posteriors(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.column_stack([1.0 - p, p])


def quapy_quantifier(name: str, threshold: float = 0.5):
    """quapy's (unfitted) quantifier `name` around our probabilities, as configured here."""
    from quapy.method.aggregative import ACC, CC, EMQ, PACC, PCC, HDy

    clf = Posteriors(threshold)
    makers = {
        "cc": lambda: CC(clf, fit_classifier=False),
        "pcc": lambda: PCC(clf, fit_classifier=False, val_split=None),
        "acc": lambda: ACC(clf, fit_classifier=False, val_split=None, solver="exact-cc"),
        "pacc": lambda: PACC(clf, fit_classifier=False, val_split=None, solver="exact-cc"),
        "emq": lambda: EMQ(clf, fit_classifier=False, val_split=None),
        "hdy": lambda: HDy(clf, fit_classifier=False, val_split=None),
    }
    return makers[canonical_estimator(name)]()


def fit_quapy(name: str, labels: np.ndarray, proba: np.ndarray, threshold: float = 0.5):
    """quapy's quantifier `name` fitted (`aggregation_fit`) on validation `labels` (0/1) and
    calibrated probabilities `proba` of one category."""
    from quapy.functional import prevalence_from_labels

    quantifier = quapy_quantifier(name, threshold)
    labels = np.asarray(labels).astype(int)
    quantifier.aggregation_fit(quantifier.classify(as_posteriors(proba)), labels)
    if canonical_estimator(name) == "emq":  # quapy's fit() sets this before aggregation_fit
        quantifier.train_prevalence = prevalence_from_labels(labels, quantifier.classes_)
    return quantifier


def quapy_share(quantifier, proba: np.ndarray) -> float:
    """quapy's own estimate (`aggregate`) of the positive share of one sample."""
    return float(quantifier.aggregate(quantifier.classify(as_posteriors(proba)))[1])


@dataclass
class QuantifierFits:
    """Per category (K), what quapy's quantifiers learned from its title validation data:
    crisp and soft TPR/FPR (ACC, PACC), the validation prevalence (EMQ), the class
    histograms per bin count (HDy), with the validation class sizes; NaN, and a `reason`,
    where a category could not be fitted. `thresholds` are the operating point's."""

    thresholds: np.ndarray
    n_pos: np.ndarray
    n_neg: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    soft_tpr: np.ndarray
    soft_fpr: np.ndarray
    prior: np.ndarray
    hdy_pos: dict[int, np.ndarray]
    hdy_neg: dict[int, np.ndarray]
    reason: list[str]
    validation: list[tuple[np.ndarray, np.ndarray] | None]

    @property
    def fitted(self) -> np.ndarray:
        return np.array([not r for r in self.reason])

    def subset(self, columns: list[int]) -> QuantifierFits:
        """The fits of these categories only."""
        pick = [np.asarray(a)[columns] for a in (self.thresholds, self.n_pos, self.n_neg, self.tpr, self.fpr)]
        soft = [np.asarray(a)[columns] for a in (self.soft_tpr, self.soft_fpr, self.prior)]
        return QuantifierFits(
            *pick,
            *soft,
            {b: h[columns] for b, h in self.hdy_pos.items()},
            {b: h[columns] for b, h in self.hdy_neg.items()},
            [self.reason[j] for j in columns],
            [self.validation[j] for j in columns],
        )


def fit_quantifiers(validation: list[tuple[np.ndarray, np.ndarray] | None], thresholds: np.ndarray) -> QuantifierFits:
    """Fit ACC, PACC, EMQ and HDy with quapy for every category whose validation
    (labels, probabilities) has at least MIN_CLASS_ROWS positives and negatives."""
    k = len(validation)
    fits = QuantifierFits(
        np.asarray(thresholds, dtype=float),
        np.zeros(k, dtype=int),
        np.zeros(k, dtype=int),
        *(np.full(k, np.nan) for _ in range(5)),
        {b: np.full((k, b), np.nan) for b in HDY_BINS},
        {b: np.full((k, b), np.nan) for b in HDY_BINS},
        [""] * k,
        list(validation),
    )
    for j, pair in enumerate(validation):
        if pair is None:
            fits.reason[j] = "no labeled title rows in the model's validation data"
            continue
        labels, proba = np.asarray(pair[0]).astype(int), np.asarray(pair[1], dtype=float)
        fits.n_pos[j], fits.n_neg[j] = int(labels.sum()), int(len(labels) - labels.sum())
        if min(fits.n_pos[j], fits.n_neg[j]) < MIN_CLASS_ROWS or np.isnan(proba).any():
            fits.reason[j] = (
                f"{fits.n_pos[j]} positive and {fits.n_neg[j]} negative validation titles (need {MIN_CLASS_ROWS} of each)"
            )
            continue
        _store_fits(fits, j, labels, proba)
    return fits


def _store_fits(fits: QuantifierFits, j: int, labels: np.ndarray, proba: np.ndarray) -> None:
    crisp = fit_quapy("acc", labels, proba, fits.thresholds[j]).Pte_cond_estim_
    soft = fit_quapy("pacc", labels, proba, fits.thresholds[j]).Pte_cond_estim_
    fits.tpr[j], fits.fpr[j] = crisp[1, 1], crisp[1, 0]
    fits.soft_tpr[j], fits.soft_fpr[j] = soft[1, 1], soft[1, 0]
    fits.prior[j] = fit_quapy("emq", labels, proba).train_prevalence[1]
    hdy = fit_quapy("hdy", labels, proba)
    for b in HDY_BINS:
        fits.hdy_pos[b][j], fits.hdy_neg[b][j] = hdy.Pxy1_density[b], hdy.Pxy0_density[b]


def model_validation(classifier: MultiCategoryClassifier, kind: str = TITLE) -> list | None:
    """Per category, the (labels, out-of-fold probabilities) of the model's labeled rows of
    `kind`, or None for a category without; None for a model trained before these were stored."""
    stored = getattr(classifier, "validation_", None)
    if stored is None:
        return None
    return [(stored.get(key) or {}).get(kind) for key in classifier.categories_]


def model_fits(classifier: MultiCategoryClassifier, profile: str | None = None) -> QuantifierFits:
    """The quantifiers of a trained model on its title validation data, flags at `profile`."""
    thresholds = classifier.profile_thresholds(profile, TITLE)
    validation = model_validation(classifier)
    if validation is None:
        fits = fit_quantifiers([None] * len(classifier.categories_), thresholds)
        fits.reason = ["the model was trained before validation data was stored: only cc and pcc can estimate"] * len(
            fits.reason
        )
        return fits
    return fit_quantifiers(validation, thresholds)


def unusable_reason(name: str, fits: QuantifierFits, j: int) -> str:
    """Why category j cannot use estimator `name` ("" when it can): no validation data to
    fit it on, or (acc, pacc) a TPR - FPR too small to adjust by."""
    name = canonical_estimator(name)
    if name not in NEEDS_VALIDATION:
        return ""
    if fits.reason[j]:
        return fits.reason[j]
    if name in ("acc", "pacc"):
        soft = name == "pacc"
        separation = (fits.soft_tpr[j] - fits.soft_fpr[j]) if soft else (fits.tpr[j] - fits.fpr[j])
        if not separation >= _MIN_SEPARATION:
            what = "mean probability of positive minus negative" if soft else "TPR - FPR at the operating point"
            return f"{what} is {separation:.2f} on the validation titles, too little to adjust by (< {_MIN_SEPARATION})"
    return ""


def estimator_plan(name: str, fits: QuantifierFits, strict: bool = False) -> list[str]:
    """The estimator used for each category: `name`, or FALLBACK (pcc) where the category
    cannot use it (`unusable_reason`). `strict`: an error instead when no category can."""
    name = canonical_estimator(name)
    reasons = [unusable_reason(name, fits, j) for j in range(len(fits.reason))]
    plan = [FALLBACK if why else name for why in reasons]
    if strict and reasons and name not in plan:
        raise ValueError(
            f"share estimator {name!r} cannot be used for any category of this model "
            f"({'; '.join(sorted(set(reasons)))}); use --estimator pcc or cc"
        )
    return plan


@dataclass(frozen=True)
class RowGroups:
    """Which of the groups 0..n_groups-1 each row is in (`group`, (n,)), and which rows are
    the same item with one true label (`unit`, (n,)), e.g. the snapshots of one title.
    Default: every row is its own unit."""

    group: np.ndarray
    n_groups: int
    unit: np.ndarray | None = None


@dataclass(frozen=True)
class Bootstrap:
    """`n_boot` replicates from a generator seeded by `seed`; `level` intervals."""

    n_boot: int = 200
    seed: int = 0
    level: float = 0.95


@dataclass(frozen=True)
class Estimate:
    """(G, K) share, and the lower and upper ends of its bootstrap interval; NaN where a
    group is empty, a category cannot be estimated, or the estimator has no interval."""

    share: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Shares:
    """Per group: rows `n` (G,), flags `flagged` (G, K), and the `estimate`."""

    n: np.ndarray
    flagged: np.ndarray
    estimate: Estimate


@dataclass(frozen=True)
class _Sorted:
    """The rows sorted by group: probabilities, group and unit ids, and each non-empty
    group's first row (`starts`) and size, over the `present` groups."""

    proba: np.ndarray
    group: np.ndarray
    unit: np.ndarray
    n: np.ndarray
    present: np.ndarray
    starts: np.ndarray

    def sums(self, values: np.ndarray) -> np.ndarray:
        """(G, K) per-group sums of `values` (rows in this order); 0 for empty groups."""
        out = np.zeros((len(self.n), values.shape[1]), dtype=values.dtype)
        if len(self.present):
            out[self.present] = np.add.reduceat(values, self.starts, axis=0)
        return out


def _sorted_rows(proba: np.ndarray, rows: RowGroups) -> _Sorted:
    proba = np.asarray(proba, dtype=float)
    group, n_groups = np.asarray(rows.group), rows.n_groups
    n_rows = len(proba)
    if group.shape != (n_rows,):
        raise ValueError(f"group has shape {group.shape}, expected ({n_rows},)")
    if n_rows and (group.min() < 0 or group.max() >= n_groups):
        raise ValueError(f"group ids must lie in 0..{n_groups - 1}")
    unit = np.arange(n_rows) if rows.unit is None else np.asarray(rows.unit)
    if unit.shape != (n_rows,):
        raise ValueError(f"unit has shape {unit.shape}, expected ({n_rows},)")
    order = np.argsort(group, kind="stable")
    n = np.bincount(group, minlength=n_groups).astype(np.int64)
    present = np.flatnonzero(n)
    starts = (np.cumsum(n) - n)[present]
    return _Sorted(proba[order], group[order], unit[order], n, present, starts)


def estimate_shares(
    plan: list[str] | str, fits: QuantifierFits, proba: np.ndarray, rows: RowGroups, boot: Bootstrap
) -> Shares:
    """Shares of the rows of `proba` (n, K) in the groups of `rows`, each category with its
    estimator in `plan` (one name: every category), and flag counts at the fits' thresholds.
    Untrained categories (NaN probabilities) and empty groups are NaN."""
    data = _sorted_rows(proba, rows)
    k = data.proba.shape[1]
    plan = [canonical_estimator(plan)] * k if isinstance(plan, str) else [canonical_estimator(p) for p in plan]
    flagged = data.sums(flag_mask(data.proba, fits.thresholds).astype(np.int64))
    shape = (len(data.n), k)
    share, low, high = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for name in dict.fromkeys(plan):
        cols = [j for j in range(k) if plan[j] == name]
        part = _Sorted(data.proba[:, cols], data.group, data.unit, data.n, data.present, data.starts)
        est = _ESTIMATE[name](fits.subset(cols), part, boot)
        share[:, cols], low[:, cols], high[:, cols] = est.share, est.low, est.high
    untrained = np.isnan(data.proba).all(axis=0) if len(data.proba) else np.zeros(k, dtype=bool)
    dead = np.isnan(share) | untrained[None, :] | (data.n == 0)[:, None]
    share[dead] = low[dead] = high[dead] = np.nan
    return Shares(data.n, flagged, Estimate(share, low, high))


def _no_interval(share: np.ndarray) -> Estimate:
    return Estimate(share, np.full(share.shape, np.nan), np.full(share.shape, np.nan))


def _rate(data: _Sorted, values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return data.sums(values) / data.n[:, None]


def _cc(fits: QuantifierFits, data: _Sorted, boot: Bootstrap) -> Estimate:
    return _no_interval(_rate(data, flag_mask(data.proba, fits.thresholds).astype(float)))


def _pcc(fits: QuantifierFits, data: _Sorted, boot: Bootstrap) -> Estimate:
    filled = np.nan_to_num(data.proba)
    share = _rate(data, filled)
    draws = _label_draws(filled, data, boot)
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = draws / data.n[:, None, None]
    return Estimate(share, *_interval(replicates, boot.level))


def _acc(fits: QuantifierFits, data: _Sorted, boot: Bootstrap) -> Estimate:
    rate = _rate(data, flag_mask(data.proba, fits.thresholds).astype(float))
    rng = np.random.default_rng(boot.seed)
    tpr_boot = _binomial_rates(rng, fits.n_pos, fits.tpr, boot.n_boot)
    fpr_boot = _binomial_rates(rng, fits.n_neg, fits.fpr, boot.n_boot)
    return _adjusted(rate, (fits.tpr, fits.fpr), (tpr_boot, fpr_boot), boot.level)


def _pacc(fits: QuantifierFits, data: _Sorted, boot: Bootstrap) -> Estimate:
    rate = _rate(data, np.nan_to_num(data.proba))
    k = len(fits.reason)
    tpr_boot, fpr_boot = np.full((k, boot.n_boot), np.nan), np.full((k, boot.n_boot), np.nan)
    rng = np.random.default_rng(boot.seed)
    for j in np.flatnonzero(fits.fitted):
        labels, proba = fits.validation[j]
        labels, proba = np.asarray(labels).astype(int), np.asarray(proba, dtype=float)
        for cls, out in ((1, tpr_boot), (0, fpr_boot)):
            p = proba[labels == cls]
            out[j] = p[rng.integers(0, len(p), (boot.n_boot, len(p)))].mean(axis=1)
    return _adjusted(rate, (fits.soft_tpr, fits.soft_fpr), (tpr_boot, fpr_boot), boot.level)


def _binomial_rates(rng: np.random.Generator, n: np.ndarray, rate: np.ndarray, n_boot: int) -> np.ndarray:
    """(K, B) replicates of rates measured as rate·n successes in n trials; NaN where unknown."""
    ok = np.isfinite(rate) & (np.asarray(n) > 0)
    trials = np.where(ok, n, 1).astype(int)
    out = rng.binomial(trials[:, None], np.where(ok, rate, 0)[:, None], (len(trials), n_boot)) / trials[:, None]
    out[~ok] = np.nan
    return out


def _adjusted(rate: np.ndarray, rates: tuple, replicates: tuple, level: float) -> Estimate:
    """(rate - fpr) / (tpr - fpr), clipped to [0, 1] as quapy's "clip" normalisation does;
    NaN where tpr - fpr < _MIN_SEPARATION. Its interval over the rate replicates."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = _adjust(rate, *rates)
        boot = _adjust(rate[:, :, None], replicates[0][None], replicates[1][None])
    return Estimate(share, *_interval(boot, level))


def _adjust(rate: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    separation = tpr - fpr
    adjusted = np.clip((rate - fpr) / separation, 0.0, 1.0)
    return np.where(separation >= _MIN_SEPARATION, adjusted, np.nan)


_EM_EPSILON, _EM_MAX_ITER = 1e-4, 1000  # quapy's EMQ.EPSILON and EMQ.MAX_ITER


def _emq(fits: QuantifierFits, data: _Sorted, boot: Bootstrap) -> Estimate:
    share = np.full((len(data.n), len(fits.reason)), np.nan)
    for j in np.flatnonzero(fits.fitted):
        share[data.present, j] = _em(data.proba[:, j], data.n[data.present], fits.prior[j])
    return _no_interval(share)


def _em(p: np.ndarray, sizes: np.ndarray, prior: float) -> np.ndarray:
    """quapy's EMQ.EM for many samples at once: `p` holds the samples' rows one after the
    other (`sizes` rows each). Each sample stops at its own convergence, as quapy's loop
    would (|change| < 1e-4 after more than 10 steps, at most 1000 steps)."""
    train = np.array([1.0 - prior, prior])
    if not len(sizes):
        return np.zeros(0)
    if np.prod(train) == 0:
        train = (train + _EM_EPSILON) / (train + _EM_EPSILON).sum()
    result = np.tile(train, (len(sizes), 1))
    active = np.arange(len(sizes))
    q, previous = result.copy(), None
    rows, owner = p, np.repeat(np.arange(len(sizes)), sizes)
    for step in range(_EM_MAX_ITER):
        weighted = (q / train)[owner] * np.column_stack([1.0 - rows, rows])
        posterior = weighted / weighted.sum(axis=1, keepdims=True)
        q = np.add.reduceat(posterior, np.cumsum(sizes[active]) - sizes[active], axis=0) / sizes[active, None]
        result[active] = q
        if previous is not None and step > 10:
            done = np.abs(q - previous).mean(axis=1) < _EM_EPSILON
            if done.any():
                keep = ~done
                rows, owner = rows[keep[owner]], np.repeat(np.arange(keep.sum()), sizes[active][keep])
                active, q = active[keep], q[keep]
                if not len(active):
                    break
        previous = q
    return result[:, 1]


def _hdy(fits: QuantifierFits, data: _Sorted, boot: Bootstrap) -> Estimate:
    share = np.full((len(data.n), len(fits.reason)), np.nan)
    for j in np.flatnonzero(fits.fitted):
        pos = {b: fits.hdy_pos[b][j] for b in HDY_BINS}
        neg = {b: fits.hdy_neg[b][j] for b in HDY_BINS}
        share[data.present, j] = _hdy_search(data.proba[:, j], data.n[data.present], pos, neg)
    return _no_interval(share)


def _hdy_search(p: np.ndarray, sizes: np.ndarray, pos: dict, neg: dict) -> np.ndarray:
    """quapy's HDy.aggregate for many samples at once (rows one sample after the other):
    per bin count, the grid prevalence whose mix of the class histograms is nearest the
    sample's histogram in Hellinger distance, then the median over bin counts. The squared
    distance is expanded (|a|² + |b|² - 2a·b) so all samples are one matrix product; it
    ranks the grid as quapy's form does except within rounding of an exact tie."""
    owner = np.repeat(np.arange(len(sizes)), sizes)
    estimates = np.empty((len(HDY_BINS), len(sizes)))
    for i, bins in enumerate(HDY_BINS):
        edges = np.linspace(0.0, 1.0, bins + 1)
        index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
        counts = np.bincount(owner * bins + index, minlength=len(sizes) * bins).reshape(len(sizes), bins).astype(float)
        density = counts / np.diff(edges) / counts.sum(axis=1, keepdims=True)  # np.histogram(density=True)
        mix = _HDY_GRID[:, None] * pos[bins] + (1 - _HDY_GRID[:, None]) * neg[bins]
        root_mix, root_test = np.sqrt(mix), np.sqrt(density)
        distance = (root_test**2).sum(1)[:, None] + (root_mix**2).sum(1)[None, :] - 2 * root_test @ root_mix.T
        estimates[i] = _HDY_GRID[np.argmin(distance, axis=1)]
    return np.median(estimates, axis=0)


_ESTIMATE = {"cc": _cc, "pcc": _pcc, "acc": _acc, "pacc": _pacc, "emq": _emq, "hdy": _hdy}

_UNITS_PER_CHUNK = 4096  # bounds the (units, K, replicates) block of random numbers to ~40 MB


def _label_draws(proba: np.ndarray, data: _Sorted, boot: Bootstrap) -> np.ndarray:
    """(G, K, B): per group, the number of rows whose unit's drawn label is positive. One
    label per unit, counted in every row (and so every group) the unit holds. Draws are
    made unit by unit in sorted unit order from one generator seeded by `seed`."""
    n_rows, k = proba.shape
    n_groups = len(data.n)
    if boot.n_boot == 0 or n_rows == 0:
        return np.zeros((n_groups, k, boot.n_boot), dtype=np.int32)
    units, first, unit_code = np.unique(data.unit, return_index=True, return_inverse=True)
    unit_p = proba[first].astype(np.float32)  # rows of one unit share its probabilities
    weights = sp.csc_matrix((np.ones(n_rows, dtype=np.float32), (data.group, unit_code)), shape=(n_groups, len(units)))
    rng = np.random.default_rng(boot.seed)
    total = np.zeros((n_groups, k * boot.n_boot), dtype=np.float64)
    for lo in range(0, len(units), _UNITS_PER_CHUNK):
        hi = min(lo + _UNITS_PER_CHUNK, len(units))
        labels = rng.random((hi - lo, k, boot.n_boot), dtype=np.float32) < unit_p[lo:hi, :, None]
        total += weights[:, lo:hi] @ labels.reshape(hi - lo, k * boot.n_boot).astype(np.float32)
    return np.rint(total).astype(np.int32).reshape(n_groups, k, boot.n_boot)


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
