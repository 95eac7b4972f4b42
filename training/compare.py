"""Paired comparison of two models' scores on the same labeled rows, per category.

Point metrics are those of `evaluate.evaluate_slice`: only rows where a category is known
count for it. Each difference gets a paired bootstrap interval: a replicate draws rows with
replacement once and weights both models' rows by the same counts, so noise the two models
share (which rows happened to be labeled) cancels and the interval reflects only their
difference. Whole rows are resampled, not each category's known rows separately, so the
`_macro` replicate is the mean over categories of one and the same resample.

A replicate is a vector of row counts, never a copy of the data. Counting metrics for all
categories and both models are one matrix product per batch of replicates; average
precision sorts each model's scores once and then needs only sums of counts between the
ranks where positives occur. 1,000 replicates of 12 categories × 20k rows take seconds."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qinglang.training.metrics import MACRO

METRICS = ("precision", "recall", "f1", "average_precision")
OK = "ok"
_MODELS = ("baseline", "candidate")
_BATCH_CELLS = 4_000_000  # replicates × rows of counts held at once (16 MB as float32)


@dataclass(frozen=True)
class _APPlan:
    """What average precision needs from one model's scores on one category, whatever the
    weights: rows in descending score order up to the last tie group holding a positive,
    cut into buckets that each end where such a group ends (AP changes only there)."""

    rows: np.ndarray  # row indices, best score first
    starts: np.ndarray  # where each bucket starts in `rows`
    pos_rows: np.ndarray  # the positive rows, same order
    pos_starts: np.ndarray  # where each bucket starts in `pos_rows`


def _ap_plan(rows: np.ndarray, y: np.ndarray, score: np.ndarray) -> _APPlan:
    order = np.argsort(-score, kind="stable")
    s, yo, ro = score[order], y[order], rows[order]
    group_ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    group_of = np.searchsorted(group_ends, np.arange(len(s)))
    pos = np.flatnonzero(yo)
    pos_groups = np.unique(group_of[pos])
    bucket_ends = group_ends[pos_groups]
    pos_bucket = np.searchsorted(pos_groups, group_of[pos])
    return _APPlan(
        rows=ro[: bucket_ends[-1] + 1],
        starts=np.r_[0, bucket_ends[:-1] + 1],
        pos_rows=ro[pos],
        pos_starts=np.searchsorted(pos_bucket, np.arange(len(pos_groups))),
    )


def weighted_average_precision(weights: np.ndarray, y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Average precision (sklearn's definition: ties form one threshold) for each row of
    `weights` (R, n) of integer row counts; NaN where no positive has weight."""
    y = np.asarray(y).astype(bool)
    if not y.any():
        return np.full(len(weights), np.nan)
    return _weighted_ap(
        np.asarray(weights, dtype=np.float32), _ap_plan(np.arange(len(y)), y, np.asarray(score, dtype=float))
    )


def _weighted_ap(W: np.ndarray, plan: _APPlan) -> np.ndarray:
    # float32 sums of integer counts are exact below 2**24; cumulate and divide in float64
    seen = np.cumsum(np.add.reduceat(W[:, plan.rows], plan.starts, axis=1), axis=1, dtype=np.float64)
    gained = np.add.reduceat(W[:, plan.pos_rows], plan.pos_starts, axis=1).astype(np.float64)
    tp = np.cumsum(gained, axis=1)
    precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
    total = tp[:, -1]
    return np.divide((gained * precision).sum(axis=1), total, out=np.full(len(W), np.nan), where=total > 0)


class _Scorer:
    """Metric values of both models under any row weights, as (model, category, metric,
    replicate). Built once; applied to unit weights for the point estimates and to each
    batch of bootstrap counts."""

    def __init__(
        self, Y: np.ndarray, models: list[tuple[np.ndarray, np.ndarray]], trained: np.ndarray, metrics: tuple[str, ...]
    ) -> None:
        known = ~np.isnan(Y)
        positive = known & (Y == 1)
        columns = [known, positive]
        for _, flags in models:
            flagged = known & (flags != 0)
            columns += [flagged, flagged & positive]
        self.V = np.hstack(columns).astype(np.float32)  # one matrix product gives every count
        self.K = Y.shape[1]
        self.trained = trained
        self.metrics = metrics
        self.plans: dict[tuple[int, int], _APPlan] = {}
        if "average_precision" in metrics:
            for i, (proba, _) in enumerate(models):
                for j in np.flatnonzero(trained[i] & positive.any(axis=0)):
                    rows = np.flatnonzero(known[:, j])
                    self.plans[i, j] = _ap_plan(rows, positive[rows, j], proba[rows, j])

    def __call__(self, W: np.ndarray) -> np.ndarray:
        counts = (W @ self.V).astype(np.float64).reshape(len(W), -1, self.K)  # exact integers; divide in float64
        n, pos = counts[:, 0], counts[:, 1]
        out = np.full((2, self.K, len(self.metrics), len(W)), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            for i in range(2):
                flagged, tp = counts[:, 2 + 2 * i], counts[:, 3 + 2 * i]
                values = {
                    "precision": np.where(flagged > 0, tp / flagged, np.nan),
                    "recall": np.where(pos > 0, tp / pos, np.nan),
                    "f1": np.where(flagged + pos > 0, 2 * tp / (flagged + pos), np.nan),
                }
                if "average_precision" in self.metrics:
                    ap = np.full((len(W), self.K), np.nan)
                    for (model, j), plan in self.plans.items():
                        if model == i:
                            ap[:, j] = _weighted_ap(W, plan)
                    values["average_precision"] = np.where((pos > 0) & (pos < n), ap, np.nan)  # as evaluate_slice
                for m, metric in enumerate(self.metrics):
                    out[i, :, m] = values[metric].T
        out[~self.trained] = np.nan
        return out


def _replicates(n: int, n_boot: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Row counts of bootstrap resamples, in batches that bound memory (one bincount per
    batch: several times faster than Generator.multinomial over 20k rows)."""
    per_batch = max(1, _BATCH_CELLS // max(n, 1))
    for start in range(0, n_boot, per_batch):
        size = min(per_batch, n_boot - start)
        draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]  # replicate r owns bins r*n…
        yield np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(np.float32)


def _checked(model: tuple[np.ndarray, np.ndarray], shape: tuple[int, int], name: str) -> tuple[np.ndarray, np.ndarray]:
    proba, flags = (np.asarray(a) for a in model)
    if proba.shape != shape or flags.shape != shape:
        raise ValueError(
            f"{name}: proba {proba.shape} and flags {flags.shape} must both be {shape} (rows × categories)"
        )
    return proba.astype(float), flags


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of nothing is NaN, not news
        return np.nanmean(a, axis=axis)


def _interval(deltas: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the last axis; replicates where a metric is undefined
    (e.g. precision when nothing was flagged) are left out."""
    if deltas.shape[-1] == 0:
        nothing = np.full(deltas.shape[:-1], np.nan)
        return nothing, nothing
    tail = (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(deltas, [tail, 1 - tail], axis=-1)
    return low, high


@dataclass(frozen=True)
class ComparisonSettings:
    """Which metrics to compare and how their intervals are drawn: `n_boot` paired
    bootstrap resamples from `seed`, each interval covering `confidence`."""

    metrics: Sequence[str] = METRICS
    n_boot: int = 1000
    seed: int = 0
    confidence: float = 0.95


def compare_scores(
    labels: pd.DataFrame,
    categories: list[str],
    baseline: tuple[np.ndarray, np.ndarray],
    candidate: tuple[np.ndarray, np.ndarray],
    settings: ComparisonSettings = ComparisonSettings(),
) -> pd.DataFrame:
    """One row per category with known labels, plus `_macro` over categories where both
    models are trained and positives exist. Each model is `(proba, flags)`, both (n, K) in
    the order of `categories`; a category whose probabilities are all NaN is untrained in
    that model and gets NaN metrics there.

    Columns: category, status, support, n, then for each metric m: baseline_m, candidate_m,
    delta_m (candidate − baseline), delta_m_low, delta_m_high. Status is "ok", "no
    positives", "not trained in baseline", "not trained in candidate" or "not trained in
    either". `attrs` holds n_boot, seed and confidence. Deterministic given `settings.seed`."""
    metrics = _checked_settings(settings)
    Y = labels[list(categories)].to_numpy(dtype="float64", na_value=np.nan)
    models = [_checked(baseline, Y.shape, "baseline"), _checked(candidate, Y.shape, "candidate")]
    labeled = ~np.isnan(Y).all(axis=1)  # rows known for no category count for nothing
    Y, models = Y[labeled], [(p[labeled], f[labeled]) for p, f in models]
    trained = _trained(Y, models)

    scorer = _Scorer(Y, models, trained, metrics)
    point = scorer(np.ones((1, len(Y)), dtype=np.float32))[..., 0]  # (model, category, metric)
    rng = np.random.default_rng(settings.seed)
    boot = np.concatenate(
        [scorer(W) for W in _replicates(len(Y), settings.n_boot if len(Y) else 0, rng)]
        or [np.empty((*point.shape, 0))],
        axis=-1,
    )
    rows = _rows(Y, trained, categories, point, boot, settings.confidence)
    table = _table(rows, metrics)
    table.attrs.update(n_boot=settings.n_boot, seed=settings.seed, confidence=settings.confidence)
    return table


def _checked_settings(settings: ComparisonSettings) -> tuple[str, ...]:
    """The metrics as a tuple, once the settings are known to be usable."""
    metrics = tuple(settings.metrics)
    if unknown := sorted(set(metrics) - set(METRICS)):
        raise ValueError(f"unknown metrics {unknown}; choose from {METRICS}")
    if not 0 < settings.confidence < 1:
        raise ValueError("confidence must lie strictly between 0 and 1")
    if settings.n_boot < 0:
        raise ValueError("n_boot must be >= 0")
    return metrics


def _trained(Y: np.ndarray, models: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(model, category): True where the model scores the category; a trained category
    may not have NaN scores on rows where it is known."""
    known = ~np.isnan(Y)
    trained = np.array([~np.isnan(p).all(axis=0) for p, _ in models])
    for name, (proba, _), t in zip(_MODELS, models, trained, strict=True):
        if np.isnan(proba[:, t])[known[:, t]].any():
            raise ValueError(f"{name}: NaN scores in a trained category")
    return trained


def _status(trained: np.ndarray, support: np.ndarray) -> np.ndarray:
    return np.where(
        trained.all(axis=0),
        np.where(support > 0, OK, "no positives"),
        np.where(
            trained[0],
            "not trained in candidate",
            np.where(trained[1], "not trained in baseline", "not trained in either"),
        ),
    )


def _rows(
    Y: np.ndarray, trained: np.ndarray, categories: list[str], point: np.ndarray, boot: np.ndarray, confidence: float
) -> list[tuple]:
    """(category, status, support, n, baseline values, candidate values, delta lows, delta
    highs) per category with known labels, then `_macro` over the ok ones."""
    support, n = (Y == 1).sum(axis=0), (~np.isnan(Y)).sum(axis=0)
    status = _status(trained, support)
    low, high = _interval(boot[1] - boot[0], confidence)
    rows = [
        (key, status[j], support[j], n[j], point[0, j], point[1, j], low[j], high[j])
        for j, key in enumerate(categories)
        if n[j]
    ]
    ok = status == OK
    if ok.any():
        macro_point, macro_boot = _nanmean(point[:, ok], axis=1), _nanmean(boot[:, ok], axis=1)
        m_low, m_high = _interval(macro_boot[1] - macro_boot[0], confidence)
        rows.append((MACRO, OK, support[ok].sum(), n[ok].sum(), macro_point[0], macro_point[1], m_low, m_high))
    return rows


def _table(rows: list[tuple], metrics: tuple[str, ...]) -> pd.DataFrame:
    records = []
    for key, st, sup, cnt, base, cand, lo, hi in rows:
        record = {"category": key, "status": str(st), "support": int(sup), "n": int(cnt)}
        for m, metric in enumerate(metrics):
            record |= {
                f"baseline_{metric}": base[m],
                f"candidate_{metric}": cand[m],
                f"delta_{metric}": cand[m] - base[m],
                f"delta_{metric}_low": lo[m],
                f"delta_{metric}_high": hi[m],
            }
        records.append(record)
    columns = ["category", "status", "support", "n"] + [
        f"{prefix}{metric}{suffix}"
        for metric in metrics
        for prefix, suffix in (
            ("baseline_", ""),
            ("candidate_", ""),
            ("delta_", ""),
            ("delta_", "_low"),
            ("delta_", "_high"),
        )
    ]
    return pd.DataFrame(records, columns=columns)


def compared_metrics(table: pd.DataFrame) -> list[str]:
    return [m for m in METRICS if f"delta_{m}" in table.columns]


def significant(table: pd.DataFrame, metric: str) -> pd.Series:
    """True where the interval of the change in `metric` excludes 0."""
    return (table[f"delta_{metric}_low"] > 0) | (table[f"delta_{metric}_high"] < 0)


def format_comparison(table: pd.DataFrame) -> str:
    """A plain-text side-by-side table per metric, for a terminal; `*` marks a change
    whose interval excludes 0."""

    def num(v: float, sign: str = "") -> str:
        return "n/a" if pd.isna(v) else f"{v:{sign}.3f}"

    width = max([len("category"), *table["category"].map(len)])
    confidence, n_boot = table.attrs.get("confidence"), table.attrs.get("n_boot")
    interval = f"{confidence:.0%} interval" if confidence is not None else "interval"
    blocks = []
    for metric in compared_metrics(table):
        lines = [
            f"{metric}: candidate - baseline, paired bootstrap ({n_boot} resamples); * = {interval} excludes 0",
            f"{'category':<{width}}  {'support':>7}  {'baseline':>8}  {'candidate':>9}  {'delta':>7}  {interval}",
        ]
        marks = significant(table, metric)
        for rec, mark in zip(table.to_dict("records"), marks, strict=True):
            lo, hi = rec[f"delta_{metric}_low"], rec[f"delta_{metric}_high"]
            bounds = "" if pd.isna(lo) else f"[{num(lo, '+')}, {num(hi, '+')}]"
            note = "" if rec["status"] == OK else f"  ({rec['status']})"
            lines.append(
                f"{rec['category']:<{width}}  {rec['support']:>7}  {num(rec[f'baseline_{metric}']):>8}  "
                f"{num(rec[f'candidate_{metric}']):>9}  {num(rec[f'delta_{metric}'], '+'):>7}  {bounds:<16} {'*' if mark else ' '}{note}".rstrip()
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
