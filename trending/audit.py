"""Trending-list health: how much of the list, day by day, is low-value or harmful.

Every distinct title is scored once; each day's entries then take their title's scores.
Shares are estimated per day and month for three scopes: the whole list, and where the
rank is known the top 10 and top 50 (see qinglang.trending.prevalence for the estimators and
what their intervals mean). A day file that is empty or malformed is reported and skipped.

A day file is the union of the day's snapshots of the list, so a title appears once per
snapshot it was seen in, with that snapshot's rank (the whole archive: 603,095 entries,
487,386 distinct day-title pairs). Shares are therefore of the list slots observed: a
title that stays on the list longer, or in the top 10 longer, counts more, as it does for
the people reading the list. That is the default unit, `slots`; with `titles` a share is of
the distinct titles on the list that day (or month): a title counts once however long it
stays. A month's `slots` share is over all its entries, its `titles` share over the titles
seen in the month, each once. Each day is the list as archived, not a sample of it."""

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
from qinglang.data.taxonomy import TITLE  # a trending list holds titles: scored, calibrated, flagged as such
from qinglang.models.bundle import ModelBundle
from qinglang.models.thresholds import flag_mask
from qinglang.trending.backtest import check_unseen_dev, load_backtest
from qinglang.trending.prevalence import (
    DEFAULT_BY_CATEGORY,
    DEFAULT_ESTIMATOR,
    ESTIMATORS,
    Bootstrap,
    Estimate,
    QuantifierFits,
    RowGroups,
    canonical_estimator,
    estimate_shares,
    estimator_plan,
    model_fits,
    unusable_reason,
)

log = logging.getLogger("qinglang.audit")

SCOPES = {"all": None, "top10": 10, "top50": 50}  # scope name -> highest rank it holds (None: every entry)
UNITS = ("slots", "titles")  # what a share counts: list slots (entries) or distinct titles
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
    backtest: dict | None = None  # the backtest file given with --backtest (trending/backtest.py)


@dataclass(frozen=True)
class AuditRequest:
    """Audit the archive in `archive_dir` between `date_from` and `date_to` (inclusive;
    None: open). `estimator`: one of prevalence.ESTIMATORS or an alias (None: the
    `backtest` file's choices, else DEFAULT_ESTIMATOR and DEFAULT_BY_CATEGORY). `profile` is the operating point of
    the flag counts (and of cc and acc); `unit` what a share counts (UNITS); `data_dir`
    holding the labeled trending set adds the check against labels."""

    archive_dir: Path
    date_from: date | None = None
    date_to: date | None = None
    estimator: str | None = None
    profile: str | None = None
    n_boot: int = 200
    seed: int = 0
    jobs: int | None = None
    progress: bool = False
    data_dir: Path | None = None
    unit: str = "slots"
    backtest: Path | None = None


@dataclass(frozen=True)
class _Method:
    """How shares are estimated: the quantifiers fitted on the model's title validation
    data, the estimator asked for and where that choice came from, and the estimator used
    for each category (the asked one, or pcc where the category cannot fit it)."""

    fits: QuantifierFits
    name: str
    source: str
    plan: list[str]
    wanted: list[str]  # per category: `name`, or its own choice (backtest file or DEFAULT_BY_CATEGORY)

    def used(self, bundle: ModelBundle) -> dict[str, str]:
        """The estimator used for each trained category."""
        clf = bundle.classifier
        return {k: e for k, e, t in zip(clf.categories_, self.plan, clf.trained_, strict=True) if t}


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

    @property
    def month_of_day(self) -> np.ndarray:
        return self.month_values.get_indexer(self.months)


def run_audit(bundle: ModelBundle, request: AuditRequest) -> AuditResult:
    """Read the archive, score each distinct title once, estimate the shares per day and
    month for every scope, and check them against labels when asked."""
    if request.unit not in UNITS:
        raise ValueError(f"unknown unit {request.unit!r}; choose one of {', '.join(UNITS)}")
    if request.date_from and request.date_to and request.date_from > request.date_to:
        raise ValueError(f"--from {request.date_from} is after --to {request.date_to}")
    backtest = load_backtest(request.backtest) if request.backtest is not None else None
    method = _method(bundle, request, backtest)
    profile = request.profile or bundle.classifier.default_profile_
    if request.data_dir is not None:
        check_unseen_dev(bundle)
    seconds: dict[str, float] = {}

    scored = _read_and_score(bundle, request, seconds)
    started = time.perf_counter()
    result = _estimate(bundle, request, scored, method)
    seconds["estimate"] = time.perf_counter() - started

    started = time.perf_counter()
    if request.data_dir is not None:
        check = check_against_labels(bundle, request.data_dir, profile, request.n_boot, request.seed)
        result.label_check = None if check is None else with_audit_columns(check, method.used(bundle))
    seconds["label_check"] = time.perf_counter() - started
    result.backtest = backtest
    result.summary = _summary(bundle, request, scored, (profile, method), seconds)
    return result


def _method(bundle: ModelBundle, request: AuditRequest, backtest: dict | None) -> _Method:
    """The estimator asked for (checked before any work), else the backtest's choice, else
    the default; and the quantifiers fitted on the model's title validation data. An
    explicitly asked adjusted estimator that no category can fit is an error."""
    per_category = {}
    if request.estimator is not None:
        name, source, strict = canonical_estimator(request.estimator), "--estimator", True
    elif backtest is not None:
        name, source, strict = backtest["choice"]["estimator"], f"the backtest {backtest['path']}", False
        per_category = backtest["choice"].get("by_category") or {}
        if not per_category:  # written before per-category choices: say that its choice covers every category
            source += " (one estimator for every category: the file has no per-category choice)"
    else:
        name, source, strict = DEFAULT_ESTIMATOR, "the default", False
        per_category = DEFAULT_BY_CATEGORY
    fits = model_fits(bundle.classifier, request.profile)
    plan = estimator_plan(name, fits, strict=strict)
    wanted = [per_category.get(key, name) for key in bundle.classifier.categories_]
    for j, want in enumerate(wanted):
        if want != name:  # this category's own choice
            plan[j] = estimator_plan(want, fits.subset([j]))[0]
    return _Method(fits, name, source, plan, wanted)


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
    title_proba = score_texts(bundle, titles, "title", jobs=request.jobs, progress=request.progress)
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


@dataclass(frozen=True)
class _Level:
    """One scope's rows at both levels at once: groups 0..D-1 are the days, D..D+M-1 the
    months. `index`: the entry of each row (every entry once per level for slots; one row
    per group and title for titles); `entries`, `titles`: list slots and distinct titles
    per group."""

    index: np.ndarray
    group: np.ndarray
    entries: np.ndarray
    titles: np.ndarray


def _level_rows(scored: _Scored, mask: np.ndarray, unit: str) -> _Level:
    idx = np.flatnonzero(mask)
    n_days, n_groups = len(scored.day_values), len(scored.day_values) + len(scored.month_values)
    index = np.concatenate([idx, idx])
    group = np.concatenate([scored.day_code[idx], n_days + scored.month_of_day[scored.day_code[idx]]])
    _, first = np.unique(group.astype(np.int64) * len(scored.titles) + scored.code[index], return_index=True)
    first.sort()
    entries = np.bincount(group, minlength=n_groups)
    titles = np.bincount(group[first], minlength=n_groups)
    if unit == "titles":
        index, group = index[first], group[first]
    return _Level(index, group, entries, titles)


def _estimate(bundle: ModelBundle, request: AuditRequest, scored: _Scored, method: _Method) -> AuditResult:
    """The per-day, per-month and per-group tables of every scope, top titles, standout days."""
    entries, proba = scored.archive.entries, scored.proba
    n_days, n_groups = len(scored.day_values), len(scored.day_values) + len(scored.month_values)
    day_periods, month_periods = pd.DatetimeIndex(scored.day_values).date, scored.month_values.astype(str)
    rank = entries["rank"].to_numpy(dtype=float, na_value=np.nan)
    day_frames, month_frames, group_frames = [], [], []
    for i, (scope, top) in enumerate(SCOPES.items()):
        mask = np.ones(len(entries), dtype=bool) if top is None else rank <= top
        level = _level_rows(scored, mask, request.unit)
        rows = RowGroups(level.group, n_groups, unit=scored.code[level.index])
        boot = Bootstrap(request.n_boot, request.seed + i)
        shares = estimate_shares(method.plan, method.fits, proba[level.index], rows, boot)
        day_part, month_part = slice(0, n_days), slice(n_days, None)
        day_est, month_est = _part(shares.estimate, day_part), _part(shares.estimate, month_part)
        day_frames.append(_long_table(bundle, scope, day_periods, _counts(level, shares.flagged, day_part), day_est))
        month_counts = _counts(level, shares.flagged, month_part)
        month_frames.append(_long_table(bundle, scope, month_periods, month_counts, month_est))
        group_frames.append(_group_table(bundle, scope, month_periods, level.entries[month_part], month_est))
    days = pd.concat(day_frames, ignore_index=True).rename(columns={"period": "day"})
    month_table = pd.concat(month_frames, ignore_index=True).rename(columns={"period": "month"})
    groups = pd.concat(group_frames, ignore_index=True).rename(columns={"period": "month"})
    flags = flag_mask(proba, method.fits.thresholds)
    top_titles = _top_titles(bundle, entries, scored.months[scored.day_code].astype(str), proba, flags)
    standout = _standout_days(days, entries, scored.day_code, scored.day_values, proba, bundle)
    return AuditResult(days, month_table, groups, top_titles, standout, None, list(scored.archive.problems))


def _part(est: Estimate, part: slice) -> Estimate:
    return Estimate(est.share[part], est.low[part], est.high[part])


def _counts(level: _Level, flagged: np.ndarray, part: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return level.entries[part], level.titles[part], flagged[part]


_UNIT_TEXT = {
    "slots": "list slots: a day file holds every snapshot of the day's list, so a title counts once per snapshot it was seen in (a title that stays longer counts more)",
    "titles": "distinct titles: a title counts once per day (and once per month) however many snapshots it was seen in",
}


def _summary(
    bundle: ModelBundle, request: AuditRequest, scored: _Scored, how: tuple[str, _Method], seconds: dict[str, float]
) -> dict:
    (profile, method), entries, archive = how, scored.archive.entries, scored.archive
    rank = entries["rank"].to_numpy(dtype=float, na_value=np.nan)
    trained = [(j, k) for j, k in enumerate(bundle.categories) if bundle.classifier.trained_[j]]
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
        "unit": request.unit,
        "unit_meaning": _UNIT_TEXT[request.unit],
        "estimator": method.name,
        "estimator_requested": request.estimator,
        "estimator_source": method.source,
        "estimator_by_category": method.used(bundle),
        "estimator_own_choice": {k: method.wanted[j] for j, k in trained if method.wanted[j] != method.name},
        "estimator_fallback": {
            k: f"cannot fit {method.wanted[j]}: {unusable_reason(method.wanted[j], method.fits, j)}"
            for j, k in trained
            if method.plan[j] != method.wanted[j]
        },
        "backtest": request.backtest and str(request.backtest),
        "profile": profile,
        "n_boot": request.n_boot,
        "seed": request.seed,
        "untrained_categories": [
            k for k, t in zip(bundle.categories, bundle.classifier.trained_, strict=True) if not t
        ],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }


def _long_table(bundle: ModelBundle, scope: str, periods, counts: tuple, est: Estimate) -> pd.DataFrame:
    """One row per (period, category) for the periods with entries in this scope.
    `counts`: per period the entries (list slots), distinct titles, and flags (in the
    audit's unit)."""
    n, titles, flagged = counts
    keep = np.flatnonzero(n)
    k = len(bundle.categories)
    return pd.DataFrame(
        {
            "period": np.repeat(np.asarray(periods)[keep], k),
            "scope": scope,
            "category": np.tile(bundle.categories, len(keep)),
            "group": np.tile([bundle.taxonomy[c].group for c in bundle.categories], len(keep)),
            "entries": np.repeat(n[keep], k),
            "titles": np.repeat(titles[keep], k),
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
    """Estimated vs labeled share per category, with every estimator, on the uniform rows
    of the labeled trending dev split (held out from training by the training config).
    An estimator a category cannot fit is NaN here (no fallback). None when the data
    directory has no labeled trending set."""
    rows = _uniform_dev_rows(bundle, data_dir)
    if rows is None or rows.empty:
        return None
    clf = bundle.classifier
    proba = clf.predict_proba(rows["text"].tolist(), TITLE)
    fits = model_fits(clf, profile)
    records = []
    for j, key in enumerate(bundle.categories):  # each category on the rows where it is labeled
        known = rows[key].notna().to_numpy()
        record = {"category": key, "group": bundle.taxonomy[key].group, "rows": int(known.sum())}
        if not known.any():
            records.append(record)
            continue
        labels = rows.loc[known, key].astype(int)
        one_group = RowGroups(np.zeros(int(known.sum()), dtype=int), 1)
        part = fits.subset([j])
        record.update(labeled_positives=int(labels.sum()), labeled_share=float(labels.mean()))
        for name in ESTIMATORS:
            est = estimate_shares(name, part, proba[known][:, [j]], one_group, Bootstrap(n_boot, seed)).estimate
            if name != "cc" and name != estimator_plan(name, part)[0]:
                est = Estimate(*(np.full((1, 1), np.nan) for _ in range(3)))
            record.update({name: est.share[0, 0], f"{name}_low": est.low[0, 0], f"{name}_high": est.high[0, 0]})
        record["flag_share"] = record["cc"]
        records.append(record)
    return _label_table(records)


def with_audit_columns(check: pd.DataFrame, plan: dict[str, str]) -> pd.DataFrame:
    """The check with the audit's own estimate per category: `audit_estimator` (the
    estimator the audit used for it, after any fallback), `audit`, `audit_low`,
    `audit_high` and `audit_abs_error` taken from that estimator's columns. Every reader of
    the check (report, CLI, benchmark) reads these, so none re-derives the audit's choice."""
    used = check["category"].map(plan)
    out = check.assign(audit_estimator=used)
    for suffix in ("", "_low", "_high", "_abs_error"):
        out[f"audit{suffix}"] = [
            float(check.at[i, f"{e}{suffix}"]) if isinstance(e, str) else np.nan
            for i, e in zip(check.index, used, strict=True)
        ]
    return out


def _uniform_dev_rows(bundle: ModelBundle, data_dir: Path) -> pd.DataFrame | None:
    """The uniform rows of the labeled trending dev split, in canonical columns; None (with
    a warning) when the set is missing or its uniform rows are unknown."""
    try:
        rows = to_canonical(read_native(LABEL_SOURCE, data_dir), bundle.taxonomy)
    except DataError as exc:
        log.warning("no check against labels: %s", exc)
        return None
    check_unseen_dev(bundle)
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
