"""The audit report, read at a glance: monthly share per category, low-value vs harmful
stacked, the check against people's labels, the most frequent flagged titles per month,
and the days that stand out. Markdown with PNGs, beside the audit's tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.training.reports.plots import panel_grid, plt, save_figure
from qinglang.training.reports.report import md_table
from qinglang.trending.audit import AuditResult, write_tables
from qinglang.trending.prevalence import ESTIMATORS

_ESTIMATOR_TEXT = {
    "mean_probability": "the mean of the calibrated probabilities (the expected share if the probabilities are calibrated on titles like these); "
    "the 95% interval is a parametric bootstrap of the labels, one Bernoulli(p) draw per title however many snapshots it appears in, so it does not cover calibration error",
    "adjusted_count": "the adjusted count (flag rate − FPR) / (TPR − FPR), with TPR and FPR of the operating point from the model's out-of-fold validation; "
    "the 95% interval is a binomial bootstrap of those rates, so it does not cover a shift between the validation data and the list",
}
SHARE_TARGET = 0.03  # the bar for the check against labels, on celebrity_hype and trivial
CHECKED_CATEGORIES = ("celebrity_hype", "trivial")


def write_report(result: AuditResult, out_dir: Path, model_ref: str = "") -> Path:
    """Tables, figures and report.md into `out_dir`; returns the report's path."""
    out_dir = Path(out_dir)
    write_tables(result, out_dir)
    monthly_figure(result.months, out_dir / "monthly_share.png")
    stacked_figure(result.groups, out_dir / "groups_stacked.png")
    path = out_dir / "report.md"
    path.write_text(_markdown(result, model_ref), "utf-8")
    return path


def monthly_figure(months: pd.DataFrame, path: Path) -> Path:
    """One panel per trained category: monthly share of the whole list with its interval,
    and of the top 10 where ranks are known."""
    trained = [
        k for k, g in months[months["scope"] == "all"].groupby("category", sort=False) if g["share"].notna().any()
    ]
    fig, axes = panel_grid(max(len(trained), 1), width=4.6, height=2.8)
    for ax, key in zip(axes, trained, strict=False):
        for scope, style in (("all", "-"), ("top10", "--")):
            rows = months[(months["scope"] == scope) & (months["category"] == key)]
            x = pd.PeriodIndex(rows["month"], freq="M").to_timestamp()
            ax.plot(x, 100 * rows["share"], style, label="whole list" if scope == "all" else "top 10")
            if scope == "all":
                ax.fill_between(x, 100 * rows["share_low"], 100 * rows["share_high"], alpha=0.25)
        ax.set_title(key, fontsize=10)
        ax.set_ylabel("% of entries")
        ax.set_ylim(bottom=0)
        ax.tick_params(axis="x", labelsize=7)
    if trained:
        axes[0].legend(fontsize=7)
    return save_figure(fig, path)


def stacked_figure(groups: pd.DataFrame, path: Path) -> Path:
    whole = groups[groups["scope"] == "all"].pivot(index="month", columns="group", values="share").fillna(0.0)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    x = pd.PeriodIndex(whole.index, freq="M").to_timestamp()
    ax.stackplot(x, *(100 * whole[c] for c in whole.columns), labels=list(whole.columns), alpha=0.8)
    ax.set_ylabel("% of entries (sum of category shares)")
    ax.set_title("Estimated share of the trending list by group, per month (whole list)")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)


def _pct(v: float) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def _markdown(result: AuditResult, model_ref: str) -> str:
    s = result.summary
    estimator = s["estimator"]
    lines = [
        "# Trending-list health audit",
        "",
        f"- Model: `{model_ref}`; flags at the `{s['profile']}` operating point.",
        f"- Archive: `{s['archive']}`, {s['first_day']} … {s['last_day']}: {s['days_read']:,} days read, "
        f"{s['entries']:,} entries ({s['entries_with_rank']:,} with a known rank), {s['distinct_titles']:,} distinct titles, each scored once. "
        "A day file holds every snapshot of the day's list, so shares are of the list slots observed: a title that stays longer counts more.",
        f"- Day files skipped (empty or malformed): **{s['day_files_skipped']}**"
        + (" (listed in `skipped_day_files.txt` and at the end)." if s["day_files_skipped"] else ".")
        + "".join(
            f" Records left out of day files that were read: {n:,} ({why})." for why, n in s["entries_dropped"].items()
        ),
        f"- Share estimator: **{estimator}**, {_ESTIMATOR_TEXT[estimator]}; {s['n_boot']} replicates, seed {s['seed']}. "
        "Counting flags is not used as a share: it is biased by the threshold (compare `flag_share` below).",
        f"- Not trained, so not estimated: {', '.join(s['untrained_categories']) or 'none'}.",
        f"- Time: {', '.join(f'{k} {v:.1f} s' for k, v in s['seconds'].items())}.",
        "",
        "Files: `days.parquet` / `days.csv` (per day, scope and category: entries, flagged, share and its interval), "
        "`months.csv`, `groups_by_month.csv`, `top_titles.csv`, `standout_days.csv`, `label_check.csv`.",
        "",
    ]
    lines += _label_check_section(result.label_check, estimator)
    lines += [
        "## Monthly share per category",
        "",
        "![monthly share](monthly_share.png)",
        "",
        "![groups stacked](groups_stacked.png)",
        "",
    ]
    lines += _group_caveat(result.label_check, estimator)
    whole = result.months[result.months["scope"] == "all"]
    pivot = whole.pivot(index="month", columns="category", values="share")
    pivot = pivot[[c for c in dict.fromkeys(whole["category"]) if pivot[c].notna().any()]]
    entries = whole.groupby("month")["entries"].first()
    table = pd.DataFrame({"month": pivot.index, "entries": entries.reindex(pivot.index).to_numpy()})
    for c in pivot.columns:
        table[c] = [_pct(v) for v in pivot[c]]
    lines += ["Estimated share of entries, in %, whole list:", "", md_table(table), ""]
    lines += _top_titles_section(result.top_titles)
    lines += _standout_section(result.standout)
    if result.problems:
        lines += ["## Skipped day files", ""] + [f"- {p}" for p in result.problems] + [""]
    return "\n".join(lines)


def _label_check_section(check: pd.DataFrame | None, estimator: str) -> list[str]:
    lines = ["## Checked against people's labels", ""]
    if check is None:
        return lines + [
            "No labeled trending set in the data directory (give `--data-dir`), so the estimates are unchecked.",
            "",
        ]
    n = int(check["rows"].iat[0])
    lines += [
        f"The {n} uniform rows of the labeled trending dev split (distinct titles first seen 2024-07 … 2024-12, held out from training), "
        f"estimated with the same model. Target: within {100 * SHARE_TARGET:.0f} points for {' and '.join(CHECKED_CATEGORIES)}. "
        "Shares in %; errors in points.",
        "",
    ]
    lines += [md_table(_label_check_table(check, estimator)), ""]
    lines += [_target_verdicts(check, estimator), ""]
    return lines + _few_positives_note(check, estimator)


def _label_check_table(check: pd.DataFrame, estimator: str) -> pd.DataFrame:
    """Labeled share against both estimators and the flag share, in % and points."""
    other = next(e for e in ESTIMATORS if e != estimator)
    return pd.DataFrame(
        {
            "category": check["category"],
            "labeled +": check["labeled_positives"],
            "labeled": [_pct(v) for v in check["labeled_share"]],
            f"{estimator} [95% CI]": [
                f"{_pct(v)} [{_pct(lo)}, {_pct(hi)}]"
                for v, lo, hi in zip(
                    check[estimator], check[f"{estimator}_low"], check[f"{estimator}_high"], strict=True
                )
            ],
            "error": [_pct(v) for v in check[f"{estimator}_abs_error"]],
            other: [_pct(v) for v in check[other]],
            f"{other} error": [_pct(v) for v in check[f"{other}_abs_error"]],
            "flag_share": [_pct(v) for v in check["flag_share"]],
            "flag error": [_pct(v) for v in check["flag_share_abs_error"]],
        }
    )


def _target_verdicts(check: pd.DataFrame, estimator: str) -> str:
    """Whether each checked category's error is within the target."""
    verdicts = []
    for key in CHECKED_CATEGORIES:
        row = check[check["category"] == key]
        if row.empty:
            continue
        err = float(row[f"{estimator}_abs_error"].iat[0])
        verdicts.append(
            f"{key} not estimable"
            if np.isnan(err)
            else f"{key} {100 * err:.1f} points ({'met' if err <= SHARE_TARGET else 'NOT met'})"
        )
    return f"Against the {100 * SHARE_TARGET:.0f}-point target with {estimator}: " + "; ".join(verdicts) + "."


def _few_positives_note(check: pd.DataFrame, estimator: str) -> list[str]:
    """What the error means for estimated categories with too few labeled positives to check recall."""
    few = check[(check["labeled_positives"] < 20) & check[estimator].notna()]
    if few.empty:
        return []
    return [
        f"Categories with fewer than 20 labeled positives here ({', '.join(few['category'])}) cannot be checked for recall; "
        "their error is the estimator's bias on titles that are (almost) all negative. Harmful categories learn their "
        "probabilities on comment and post corpora where they are common, so on trending titles their shares read high: "
        "treat them as an upper bound and their trend, not their level.",
        "",
    ]


def _group_caveat(check: pd.DataFrame | None, estimator: str) -> list[str]:
    """How far each group's summed share was from people's labels on the dev check, so the
    stacked figure is read with its bias in view."""
    if check is None:
        return []
    parts = []
    for group, rows in check.groupby("group", sort=False):
        rows = rows[rows[estimator].notna()]
        if not rows.empty:
            parts.append(
                f"{group}: estimated {_pct(rows[estimator].sum())}% vs labeled {_pct(rows['labeled_share'].sum())}%"
            )
    return [
        f"Read the stacked groups with the check above in mind. Summed over each group's categories on the dev check titles: {'; '.join(parts)}.",
        "",
    ]


def _top_titles_section(top: pd.DataFrame) -> list[str]:
    lines = [
        "## Most frequent flagged titles per month",
        "",
        "Entries = times seen on the list that month (a day file holds every snapshot of the day), "
        "days = days on the list; the category is the title's highest-scoring flag.",
        "",
    ]
    if top.empty:
        return lines + ["Nothing was flagged.", ""]
    shown = top.groupby("month", sort=True).head(3)
    table = pd.DataFrame(
        {
            "month": shown["month"],
            "title": shown["title"],
            "entries": shown["entries"],
            "days": shown["days"],
            "category": shown["category"],
            "score": shown["score"],
        }
    )
    return lines + [md_table(table), ""]


def _standout_section(standout: pd.DataFrame) -> list[str]:
    lines = [
        "## Days that stand out",
        "",
        "Days whose whole-list share of a category is at least 2 points and 4 robust standard deviations above its centred "
        "31-day median, with the day's top-scoring titles for it.",
        "",
    ]
    if standout.empty:
        return lines + ["None.", ""]
    table = standout.assign(
        share=[_pct(v) for v in standout["share"]], usual=[_pct(v) for v in standout["usual"]], z=standout["z"].round(1)
    )
    return lines + [md_table(table[["day", "category", "share", "usual", "z", "top_titles"]]), ""]
