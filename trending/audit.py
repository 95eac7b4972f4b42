"""Trending-list health: how much of the list, day by day, is low-value or harmful.

Every distinct title is scored once; each day's entries then take their title's scores.
Shares are estimated per day and month for three scopes: the whole list, and where the
rank is known the top 10 and top 50 (see qinglang.trending.prevalence for the estimators and
what their intervals mean). A day file that is empty or malformed is reported and skipped.

A day file is the union of the day's snapshots of the list, so a title appears once per
snapshot it was seen in, with that snapshot's rank (the whole archive: 603,095 entries,
487,386 distinct day-title pairs). Shares are therefore of the list slots observed: a
title that stays on the list longer, or in the top 10 longer, counts more, as it does for
the people reading the list. Each day is the list as archived, not a sample of it."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.batch.scoring import score_texts
from qinglang.data.dataset import to_canonical
from qinglang.data.errors import DataError
from qinglang.data.loaders import load_trending_archive
from qinglang.data.loaders.archive import Archive as TrendingArchive
from qinglang.data.loaders.base import read_native
from qinglang.models.bundle import ModelBundle
from qinglang.trending.prevalence import ESTIMATORS, Estimate, RowGroups, count_shares, estimator_for

log = logging.getLogger("qinglang.audit")

SCOPES = {"all": None, "top10": 10, "top50": 50}  # scope name -> highest rank it holds (None: every entry)
LABEL_SOURCE = "weibo_trending_labeled"
TOP_TITLES_PER_MONTH = 5
_STANDOUT_WINDOW, _STANDOUT_Z, _STANDOUT_MIN_GAP, _STANDOUT_PER_SERIES = 31, 4.0, 0.02, 10


@dataclass
class AuditResult:
    """`days` and `months`: one row per (period, scope, category); `groups`: the same per
    taxonomy group (sum of its categories' shares); `label_check`: estimated vs labeled
    share on the labeled trending dev split's uniform rows (None without that corpus)."""

    days: pd.DataFrame
    months: pd.DataFrame
    groups: pd.DataFrame
    top_titles: pd.DataFrame
    standout: pd.DataFrame
    label_check: pd.DataFrame | None
    problems: list[str]
    summary: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRequest:
    """Audit the archive in `archive_dir` between `date_from` and `date_to` (inclusive;
    None: open). `profile` is the operating point of the flag counts (and of the adjusted
    count); `data_dir` holding the labeled trending set adds the check against labels."""

    archive_dir: Path
    date_from: date | None = None
    date_to: date | None = None
    estimator: str = "mean_probability"
    profile: str | None = None
    n_boot: int = 200
    seed: int = 0
    jobs: int | None = None
    progress: bool = False
    data_dir: Path | None = None


@dataclass
class _Scored:
    """The archive's entries with their titles' probabilities, and the day and month index
    of every entry."""

    archive: TrendingArchive
    titles: list[str]
    code: np.ndarray  # entry -> distinct title
    proba: np.ndarray  # entry x category
    day_values: np.ndarray
    day_code: np.ndarray
    months: pd.PeriodIndex
    month_values: pd.PeriodIndex


def run_audit(bundle: ModelBundle, request: AuditRequest) -> AuditResult:
    """Read the archive, score each distinct title once, estimate the shares per day and
    month for every scope, and check them against labels when asked."""
    if request.estimator not in ESTIMATORS:
        raise ValueError(f"unknown share estimator {request.estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    if request.date_from and request.date_to and request.date_from > request.date_to:
        raise ValueError(f"--from {request.date_from} is after --to {request.date_to}")
    clf = bundle.classifier
    thresholds = clf.profile_thresholds(request.profile)
    profile = request.profile or clf.default_profile_
    if request.data_dir is not None:
        _check_unseen_dev(bundle)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    scored = _read_and_score(bundle, request, seconds)
    started = time.perf_counter()
    result = _estimate(bundle, request, scored, thresholds, profile)
    seconds["estimate"] = time.perf_counter() - started

    started = time.perf_counter()
    if request.data_dir is not None:
        result.label_check = check_against_labels(bundle, request.data_dir, profile, request.n_boot, request.seed)
    seconds["label_check"] = time.perf_counter() - started
    result.summary = _summary(bundle, request, scored, profile, seconds)
    return result


def _read_and_score(bundle: ModelBundle, request: AuditRequest, seconds: dict[str, float]) -> _Scored:
    started = time.perf_counter()
    archive = load_trending_archive(request.archive_dir, request.date_from, request.date_to, progress=request.progress)
    for problem in archive.problems:
        log.warning(problem)
    entries = archive.entries
    if entries.empty:
        window = request.date_from or request.date_to
        between = f" between {request.date_from or 'the start'} and {request.date_to or 'the end'}" if window else ""
        raise DataError("no entries to audit" + between, file=str(request.archive_dir))
    seconds["read"] = time.perf_counter() - started

    started = time.perf_counter()
    titles = archive.titles["title"].tolist()
    title_proba = score_texts(bundle, titles, jobs=request.jobs, progress=request.progress, desc="scoring titles")
    seconds["score"] = time.perf_counter() - started

    code = pd.Index(titles).get_indexer(entries["title"])
    day_values = np.sort(entries["day"].unique())
    months = pd.PeriodIndex(pd.DatetimeIndex(day_values), freq="M")
    return _Scored(
        archive,
        titles,
        code,
        title_proba[code],
        day_values,
        np.searchsorted(day_values, entries["day"].to_numpy()),
        months,
        months.unique().sort_values(),
    )


def _estimate(
    bundle: ModelBundle, request: AuditRequest, scored: _Scored, thresholds: np.ndarray, profile: str
) -> AuditResult:
    """The per-day, per-month and per-group tables of every scope, top titles, standout days."""
    clf, entries, proba = bundle.classifier, scored.archive.entries, scored.proba
    share_estimator = estimator_for(request.estimator, clf, profile, n_boot=request.n_boot, seed=request.seed)
    label_draws = (
        request.n_boot if request.estimator == "mean_probability" else 0
    )  # adjusted count bootstraps its rates
    month_of_day = scored.month_values.get_indexer(scored.months)
    day_periods, month_periods = pd.DatetimeIndex(scored.day_values).date, scored.month_values.astype(str)
    rank = entries["rank"].to_numpy(dtype=float, na_value=np.nan)
    day_frames, month_frames, group_frames = [], [], []
    for i, (scope, top) in enumerate(SCOPES.items()):
        mask = np.ones(len(entries), dtype=bool) if top is None else rank <= top
        days_of_rows = RowGroups(scored.day_code[mask], len(scored.day_values), unit=scored.code[mask])
        counts = count_shares(proba[mask], thresholds, days_of_rows, label_draws, request.seed + i)
        monthly = counts.combine(month_of_day, len(scored.month_values))
        day_frames.append(
            _long_table(bundle, scope, day_periods, counts.n, counts.flagged, share_estimator.estimate(counts))
        )
        month_est = share_estimator.estimate(monthly)
        month_frames.append(_long_table(bundle, scope, month_periods, monthly.n, monthly.flagged, month_est))
        group_frames.append(_group_table(bundle, scope, month_periods, monthly.n, month_est))
    days = pd.concat(day_frames, ignore_index=True).rename(columns={"period": "day"})
    month_table = pd.concat(month_frames, ignore_index=True).rename(columns={"period": "month"})
    groups = pd.concat(group_frames, ignore_index=True).rename(columns={"period": "month"})
    top_titles = _top_titles(bundle, entries, scored.months[scored.day_code].astype(str), proba, proba >= thresholds)
    standout = _standout_days(days, entries, scored.day_code, scored.day_values, proba, bundle)
    return AuditResult(days, month_table, groups, top_titles, standout, None, list(scored.archive.problems))


def _summary(
    bundle: ModelBundle, request: AuditRequest, scored: _Scored, profile: str, seconds: dict[str, float]
) -> dict:
    entries, archive = scored.archive.entries, scored.archive
    rank = entries["rank"].to_numpy(dtype=float, na_value=np.nan)
    return {
        "archive": str(request.archive_dir),
        "first_day": str(pd.Timestamp(scored.day_values[0]).date()),
        "last_day": str(pd.Timestamp(scored.day_values[-1]).date()),
        "days_read": int(len(scored.day_values)),
        "day_files_skipped": len(archive.problems),
        "entries": int(len(entries)),
        "entries_with_rank": int(np.isfinite(rank).sum()),
        "entries_dropped": dict(archive.dropped),
        "distinct_titles": len(scored.titles),
        "estimator": request.estimator,
        "profile": profile,
        "n_boot": request.n_boot,
        "seed": request.seed,
        "untrained_categories": [
            k for k, t in zip(bundle.categories, bundle.classifier.trained_, strict=True) if not t
        ],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def _long_table(
    bundle: ModelBundle, scope: str, periods, n: np.ndarray, flagged: np.ndarray, est: Estimate
) -> pd.DataFrame:
    """One row per (period, category) for the periods with entries in this scope."""
    keep = np.flatnonzero(n)
    k = len(bundle.categories)
    return pd.DataFrame(
        {
            "period": np.repeat(np.asarray(periods)[keep], k),
            "scope": scope,
            "category": np.tile(bundle.categories, len(keep)),
            "group": np.tile([bundle.taxonomy[c].group for c in bundle.categories], len(keep)),
            "entries": np.repeat(n[keep], k),
            "flagged": flagged[keep].ravel(),
            "share": est.share[keep].ravel(),
            "share_low": est.low[keep].ravel(),
            "share_high": est.high[keep].ravel(),
        }
    )


def _group_table(bundle: ModelBundle, scope: str, periods, n: np.ndarray, est: Estimate) -> pd.DataFrame:
    """Per group, the sum of its trained categories' shares (an entry in two categories of
    one group counts twice)."""
    keep = np.flatnonzero(n)
    rows = []
    groups = [bundle.taxonomy[c].group for c in bundle.categories]
    for group in dict.fromkeys(groups):
        cols = [j for j, g in enumerate(groups) if g == group and not np.isnan(est.share[keep, j]).all()]
        total = est.share[keep][:, cols].sum(axis=1) if cols else np.full(len(keep), np.nan)
        rows.append(
            pd.DataFrame(
                {
                    "period": np.asarray(periods)[keep],
                    "scope": scope,
                    "group": group,
                    "entries": n[keep],
                    "share": total,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def _top_titles(
    bundle: ModelBundle, entries: pd.DataFrame, month: np.ndarray, proba: np.ndarray, flagged: np.ndarray
) -> pd.DataFrame:
    """Per month, the flagged titles with the most entries, with their highest-scoring
    flagged category."""
    any_flag = flagged.any(axis=1)
    if not any_flag.any():
        return pd.DataFrame(columns=["month", "title", "entries", "days", "best_rank", "category", "score"])
    masked = np.where(flagged, proba, -1.0)[any_flag]
    best = masked.argmax(axis=1)
    frame = pd.DataFrame(
        {
            "month": month[any_flag],
            "title": entries["title"].to_numpy()[any_flag],
            "rank": entries["rank"].to_numpy()[any_flag],
            "category": np.asarray(bundle.categories)[best],
            "score": masked[np.arange(len(best)), best],
        }
    )
    frame["day"] = entries["day"].to_numpy()[any_flag]
    grouped = (
        frame.groupby(["month", "title"], sort=False)
        .agg(
            entries=("title", "size"),
            days=("day", "nunique"),
            best_rank=("rank", "min"),
            category=("category", "first"),
            score=("score", "first"),
        )
        .reset_index()
    )
    grouped = grouped.sort_values(
        ["month", "entries", "score", "title"], ascending=[True, False, False, True], kind="stable"
    )
    return grouped.groupby("month", sort=True).head(TOP_TITLES_PER_MONTH).reset_index(drop=True)


def _standout_days(
    days: pd.DataFrame,
    entries: pd.DataFrame,
    day_code: np.ndarray,
    day_values: np.ndarray,
    proba: np.ndarray,
    bundle: ModelBundle,
) -> pd.DataFrame:
    """Days whose whole-list share of a category lies far above its usual level: robust z
    (distance from the centred 31-day median in scaled median absolute deviations) of at
    least 4 and at least 2 points above that median. Each with its top-scoring titles."""
    out = []
    whole = days[days["scope"] == "all"]
    position = {d: i for i, d in enumerate(pd.DatetimeIndex(day_values).date)}
    titles = entries["title"].to_numpy()
    for j, key in enumerate(bundle.categories):
        series = whole[whole["category"] == key].set_index("day")["share"]
        if series.isna().all():
            continue
        series.index = pd.DatetimeIndex(series.index)
        window = f"{_STANDOUT_WINDOW}D"  # calendar days: skipped days do not stretch the window
        median = series.rolling(window, center=True, min_periods=7).median()
        mad = (series - median).abs().rolling(window, center=True, min_periods=7).median() * 1.4826
        z = (series - median) / mad.clip(lower=0.005)
        hits = (
            z[(z >= _STANDOUT_Z) & (series - median >= _STANDOUT_MIN_GAP)]
            .sort_values(ascending=False)
            .head(_STANDOUT_PER_SERIES)
        )
        for stamp, score in hits.items():
            day = stamp.date()
            rows = np.flatnonzero(day_code == position[day])
            ranked = rows[np.argsort(-proba[rows, j], kind="stable")]
            _, first = np.unique(titles[ranked], return_index=True)
            top = ranked[np.sort(first)[:3]]  # the three best-scoring distinct titles
            out.append(
                {
                    "day": day,
                    "category": key,
                    "share": float(series[stamp]),
                    "usual": float(median[stamp]),
                    "z": float(score),
                    "top_titles": " | ".join(f"{titles[r]} ({proba[r, j]:.2f})" for r in top),
                }
            )
    columns = ["day", "category", "share", "usual", "z", "top_titles"]
    return (
        pd.DataFrame(out, columns=columns)
        .sort_values(["category", "z"], ascending=[True, False], kind="stable")
        .reset_index(drop=True)
    )


def check_against_labels(
    bundle: ModelBundle, data_dir: Path, profile: str | None = None, n_boot: int = 200, seed: int = 0
) -> pd.DataFrame | None:
    """Estimated vs labeled share per category, with both estimators, on the uniform rows of
    the labeled trending dev split (held out from training by the training config). None
    when the data directory has no labeled trending set."""
    rows = _uniform_dev_rows(bundle, data_dir)
    if rows is None or rows.empty:
        return None
    clf = bundle.classifier
    proba = clf.predict_proba(rows["text"].tolist())
    thresholds = clf.profile_thresholds(profile)
    estimators = {name: estimator_for(name, clf, profile, n_boot=n_boot, seed=seed) for name in ESTIMATORS}
    records = []
    for j, key in enumerate(bundle.categories):  # each category on the rows where it is labeled
        known = rows[key].notna().to_numpy()
        record = {"category": key, "group": bundle.taxonomy[key].group, "rows": int(known.sum())}
        if not known.any():
            records.append(record)
            continue
        labels = rows.loc[known, key].astype(int)
        one_group = RowGroups(np.zeros(int(known.sum()), dtype=int), 1)
        counts = count_shares(proba[known][:, [j]], thresholds[[j]], one_group, n_boot, seed)
        record.update(
            labeled_positives=int(labels.sum()),
            labeled_share=float(labels.mean()),
            flag_share=float(counts.flagged[0, 0] / known.sum()),
        )
        for name, est in estimators.items():
            result = est.subset([j]).estimate(counts)
            record.update(
                {name: result.share[0, 0], f"{name}_low": result.low[0, 0], f"{name}_high": result.high[0, 0]}
            )
        records.append(record)
    return _label_table(records)


def _uniform_dev_rows(bundle: ModelBundle, data_dir: Path) -> pd.DataFrame | None:
    """The uniform rows of the labeled trending dev split, in canonical columns; None (with
    a warning) when the set is missing or its uniform rows are unknown."""
    try:
        rows = to_canonical(read_native(LABEL_SOURCE, data_dir), bundle.taxonomy)
    except DataError as exc:
        log.warning("no check against labels: %s", exc)
        return None
    _check_unseen_dev(bundle)
    if "sample" not in rows.columns:
        log.warning(
            "no check against labels: the labeled trending set has no `sample` column, so its uniform rows are unknown"
        )
        return None
    return rows[(rows["split"] == "dev") & (rows["sample"] == "uniform")].reset_index(drop=True)


def _label_table(records: list[dict]) -> pd.DataFrame:
    """One row per category in a fixed column order, with each estimate's absolute error
    against the labeled share."""
    table = pd.DataFrame.from_records(records).reindex(
        columns=[
            "category",
            "group",
            "rows",
            "labeled_positives",
            "labeled_share",
            "flag_share",
            *(f"{n}{suffix}" for n in ESTIMATORS for suffix in ("", "_low", "_high")),
        ]
    )
    for name in (*ESTIMATORS, "flag_share"):
        table[f"{name}_abs_error"] = (table[name] - table["labeled_share"]).abs()
    return table


def _check_unseen_dev(bundle: ModelBundle) -> None:
    """The check against labels needs a model that never saw the dev split; say so before
    any work rather than after it."""
    fitted_on = set((bundle.metadata.get("data_config") or {}).get("fit_splits", []))
    if "dev" in fitted_on:
        raise DataError(
            "this model was fitted on the dev split, so the check against labels would not be honest; audit without --data-dir"
        )


def write_tables(result: AuditResult, out_dir: Path) -> None:
    """The per-day table as Parquet and CSV, and the other tables as CSV."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result.days.assign(day=pd.to_datetime(result.days["day"])).to_parquet(out_dir / "days.parquet", index=False)
    tables = {
        "days": result.days,
        "months": result.months,
        "groups_by_month": result.groups,
        "top_titles": result.top_titles,
        "standout_days": result.standout,
        "label_check": result.label_check,
    }
    for name, frame in tables.items():
        if frame is not None:
            frame.to_csv(out_dir / f"{name}.csv", index=False)
    (out_dir / "skipped_day_files.txt").write_text("".join(f"{p}\n" for p in result.problems), "utf-8")
    (out_dir / "summary.json").write_text(json.dumps(result.summary, indent=2, ensure_ascii=False), "utf-8")
