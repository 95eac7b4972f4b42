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
from qinglang.trending.backtest import summarise
from qinglang.trending.prevalence import ESTIMATORS, FALLBACK

_ESTIMATOR_TEXT = {
    "cc": "classify and count (quapy CC): the share flagged at the operating point; biased by the threshold, shown for comparison; no interval",
    "pcc": "probabilistic classify and count (quapy PCC; alias mean_probability): the mean of the calibrated probabilities; "
    "its 95% interval is a parametric bootstrap of the labels, one Bernoulli(p) draw per title however many snapshots it appears in, "
    "so it covers which titles are positive if the calibration holds, not calibration error",
    "acc": "adjusted classify and count (quapy ACC; alias adjusted_count): (flag rate − FPR) / (TPR − FPR), with TPR and FPR of the operating point "
    "on the model's out-of-fold title validation; its 95% interval is a binomial bootstrap of TPR and FPR, so it covers their estimation error only",
    "pacc": "probabilistic adjusted count (quapy PACC): the mean probability adjusted by the mean probabilities of the positive and negative "
    "validation titles; its 95% interval resamples the validation titles within each class, so it covers those rates' error only",
    "emq": "EM prior adjustment (quapy EMQ, Saerens–Latinne–Decaestecker) from the validation titles' prevalence; no interval "
    "(a bootstrap would rerun EM for every day, scope and replicate)",
    "hdy": "HDy (quapy): the mix of the validation classes' probability histograms nearest the list's in Hellinger distance, "
    "median over 10–110 bins; no interval",
}
_INTERVALS_NOTE = (
    "Intervals: pcc, acc and pacc have bootstrap intervals (what each covers is said above); cc, emq and hdy have none. "
    "No interval covers a shift between the validation titles and the list: the check against labels and the backtest measure that."
)
SHARE_TARGET = 0.03  # the bar for the check against labels, on celebrity_hype and trivial
CHECKED_CATEGORIES = ("celebrity_hype", "trivial")


def write_report(result: AuditResult, out_dir: Path, model_ref: str = "") -> Path:
    """Tables, figures and report.md into `out_dir`; returns the report's path."""
    out_dir = Path(out_dir)
    write_tables(result, out_dir)
    unit = result.summary.get("unit", "slots")
    monthly_figure(result.months, out_dir / "monthly_share.png", unit)
    stacked_figure(result.groups, out_dir / "groups_stacked.png", unit)
    path = out_dir / "report.md"
    path.write_text(_markdown(result, model_ref), "utf-8")
    return path


_AXIS = {"slots": "% of entries", "titles": "% of distinct titles"}


def monthly_figure(months: pd.DataFrame, path: Path, unit: str = "slots") -> Path:
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
        ax.set_ylabel(_AXIS[unit])
        ax.set_ylim(bottom=0)
        ax.tick_params(axis="x", labelsize=7)
    if trained:
        axes[0].legend(fontsize=7)
    return save_figure(fig, path)


def stacked_figure(groups: pd.DataFrame, path: Path, unit: str = "slots") -> Path:
    whole = groups[groups["scope"] == "all"].pivot(index="month", columns="group", values="share").fillna(0.0)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    x = pd.PeriodIndex(whole.index, freq="M").to_timestamp()
    ax.stackplot(x, *(100 * whole[c] for c in whole.columns), labels=list(whole.columns), alpha=0.8)
    ax.set_ylabel(f"{_AXIS[unit]} (sum of category shares)")
    ax.set_title("Estimated share of the trending list by group, per month (whole list)")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)


def _pct(v: float) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}"


def _markdown(result: AuditResult, model_ref: str) -> str:
    s = result.summary
    lines = _header(s, model_ref)
    lines += _label_check_section(result.label_check, s)
    lines += _backtest_section(result.backtest, s)
    lines += [
        "## Monthly share per category",
        "",
        "![monthly share](monthly_share.png)",
        "",
        "![groups stacked](groups_stacked.png)",
        "",
    ]
    lines += _group_caveat(result.label_check)
    whole = result.months[result.months["scope"] == "all"]
    pivot = whole.pivot(index="month", columns="category", values="share")
    pivot = pivot[[c for c in dict.fromkeys(whole["category"]) if pivot[c].notna().any()]]
    counted = "entries" if s["unit"] == "slots" else "titles"
    sizes = whole.groupby("month")[counted].first()
    table = pd.DataFrame({"month": pivot.index, counted: sizes.reindex(pivot.index).to_numpy()})
    for c in pivot.columns:
        table[c] = [_pct(v) for v in pivot[c]]
    lines += [
        f"Estimated share of {_UNIT_WORD[s['unit']]}, in %, whole list ({estimators_text(s)}):",
        "",
        md_table(table),
        "",
    ]
    lines += _top_titles_section(result.top_titles)
    lines += _standout_section(result.standout)
    if result.problems:
        lines += ["## Skipped day files", ""] + [f"- {p}" for p in result.problems] + [""]
    return "\n".join(lines)


_UNIT_WORD = {"slots": "list slots (entries)", "titles": "distinct titles"}


def _header(s: dict, model_ref: str) -> list[str]:
    estimator = s["estimator"]
    fallback = s.get("estimator_fallback") or {}
    own = s.get("estimator_own_choice") or {}
    return [
        "# Trending-list health audit",
        "",
        f"- Model: `{model_ref}`; flags at the `{s['profile']}` operating point.",
        f"- Archive: `{s['archive']}`, {s['first_day']} … {s['last_day']}: {s['days_read']:,} days read, "
        f"{s['entries']:,} entries ({s['entries_with_rank']:,} with a known rank), {s['distinct_titles']:,} distinct titles, each scored once.",
        f"- Unit: **{s['unit']}**: shares are of {s['unit_meaning']}. "
        "(`--unit slots|titles`; the `entries` and `titles` columns of the tables count both.)",
        f"- Day files skipped (empty or malformed): **{s['day_files_skipped']}**"
        + (" (listed in `skipped_day_files.txt` and at the end)." if s["day_files_skipped"] else ".")
        + "".join(
            f" Records left out of day files that were read: {n:,} ({why})." for why, n in s["entries_dropped"].items()
        ),
        f"- Share estimator: **{estimator}** (from {s['estimator_source']}), {_ESTIMATOR_TEXT[estimator]}; "
        f"{s['n_boot']} bootstrap replicates where it has an interval, seed {s['seed']}. Every estimator is quapy's quantifier fitted on the model's title validation data "
        "(labels and out-of-fold calibrated probabilities of the labeled titles); the classifier is not refitted.",
        *(
            [f"- Per category, from the same source: {', '.join(f'{k} **{e}**' for k, e in own.items())}."]
            if own
            else []
        ),
        *([f"- Estimated with {FALLBACK} instead: "] if fallback else []),
        *(f"  - {k}: {why}" for k, why in fallback.items()),
        f"- {_INTERVALS_NOTE}",
        f"- Not trained, so not estimated: {', '.join(s['untrained_categories']) or 'none'}.",
        f"- Time: {', '.join(f'{k} {v:.1f} s' for k, v in s['seconds'].items())}.",
        "",
        "Files: `days.parquet` / `days.csv` (per day, scope and category: entries, titles, flagged, share and its interval), "
        "`months.csv`, `groups_by_month.csv`, `top_titles.csv`, `standout_days.csv`, `label_check.csv`, `summary.json`.",
        "",
    ]


def _label_check_section(check: pd.DataFrame | None, s: dict) -> list[str]:
    lines = ["## Checked against people's labels", ""]
    if check is None:
        return lines + [
            "No labeled trending set in the data directory (give `--data-dir`), so the estimates are unchecked.",
            "",
        ]
    n = int(check["rows"].iat[0])
    lines += [
        f"The {n} uniform rows of the labeled trending dev split (distinct titles first seen 2024-07 … 2024-12, held out from training), "
        f"estimated with the same model and, per category, the estimator this audit used ({estimators_text(s)}). "
        f"Target: within {100 * SHARE_TARGET:.0f} points for {' and '.join(CHECKED_CATEGORIES)}. "
        "Shares in %; errors in points.",
        "",
    ]
    lines += [md_table(_label_check_table(check, s.get("estimator_fallback") or {})), ""]
    lines += [_target_verdicts(check), ""]
    return lines + _few_positives_note(check)


def estimators_text(s: dict) -> str:
    """The audit's estimators in a few words: the overall one, then each category's own."""
    own = s.get("estimator_by_category") or {}
    return s["estimator"] + "".join(f"; {k} {e}" for k, e in own.items() if e != s["estimator"])


def _label_check_table(check: pd.DataFrame, fallback: dict) -> pd.DataFrame:
    """Labeled share against the audit's own estimate (its estimator per category; pcc where
    a category cannot fit the one wanted, marked ᵖ) with its interval, and every
    estimator with its error, in % and points."""
    table = pd.DataFrame(
        {
            "category": check["category"],
            "labeled +": check["labeled_positives"],
            "labeled": [_pct(v) for v in check["labeled_share"]],
            "audit estimator": [
                ("–" if not isinstance(e, str) else e + ("ᵖ" if k in fallback else ""))
                for k, e in zip(check["category"], check["audit_estimator"], strict=True)
            ],
            "audit [95% CI]": [
                f"{_pct(v)} [{_pct(lo)}, {_pct(hi)}]"
                for v, lo, hi in zip(check["audit"], check["audit_low"], check["audit_high"], strict=True)
            ],
            "error": [_pct(v) for v in check["audit_abs_error"]],
        }
    )
    for name in ESTIMATORS:
        table[f"{name} (error)"] = [
            f"{_pct(v)} ({_pct(e)})" for v, e in zip(check[name], check[f"{name}_abs_error"], strict=True)
        ]
    return table


def _target_verdicts(check: pd.DataFrame) -> str:
    """Whether each checked category's error, with the audit's estimator for it, is within the target."""
    verdicts = []
    for key in CHECKED_CATEGORIES:
        row = check[check["category"] == key]
        if row.empty:
            continue
        err, used = float(row["audit_abs_error"].iat[0]), row["audit_estimator"].iat[0]
        verdicts.append(
            f"{key} not estimable"
            if np.isnan(err)
            else f"{key} {100 * err:.1f} points with {used} ({'met' if err <= SHARE_TARGET else 'NOT met'})"
        )
    return (
        f"Against the {100 * SHARE_TARGET:.0f}-point target, with the audit's estimators: " + "; ".join(verdicts) + "."
    )


def _few_positives_note(check: pd.DataFrame) -> list[str]:
    """What the error means for estimated categories with too few labeled positives to check recall."""
    few = check[(check["labeled_positives"] < 20) & check["audit"].notna()]
    if few.empty:
        return []
    return [
        f"Categories with fewer than 20 labeled positives here ({', '.join(few['category'])}) cannot be checked for recall; "
        "their error is the estimator's bias on titles that are (almost) all negative. Harmful categories learn from comment "
        "and post corpora; on titles, with too few labeled positive titles, their calibration is only shifted to the titles' "
        "labeled rate (models/kinds.py `prior_shift`), so read their level with care and their trend first.",
        "",
    ]


def _backtest_section(backtest: dict | None, s: dict) -> list[str]:
    lines = ["## Shares validated across time (backtest)", ""]
    if backtest is None:
        return lines + [
            "No backtest given (`--backtest FILE`, written by `benchmarks/bench_share_backtest.py`), "
            "so the estimator's error across periods is not shown here.",
            "",
        ]
    choice, table = backtest["choice"], pd.DataFrame(backtest["table"])
    used = _backtest_rows_used(table, s)
    summary = summarise(table)
    summary = summary[summary["estimator"] == summary["category"].map(used)]
    worst = ", ".join(f"{n} {_pct(v)}" for n, v in choice["worst_abs_error"].items() if v is not None)
    file_own = choice.get("by_category") or {}
    targets, spec = backtest["targets"], backtest.get("spec", {})
    lines += [
        f"From `{backtest['path']}`. For each period, {_recipe_text(spec)} "
        f"(once per seed {spec.get('seeds', '')}, the seed drawing its validation folds) estimates the share of the period's "
        "uniform labeled titles (a share of distinct titles), compared with their labeled share, whose 95% Wilson interval "
        "shows that it is a sample too. `model` shipped: a model fitted on the train split only, on the dev period"
        + (". " if spec.get("fit") == "full" else " (for the harmful categories no period model can learn). ")
        + f"The backtest chose **{choice['estimator']}** ({choice['rule']}); worst-period error in points: {worst}. "
        + (
            "Its own choice per category: " + ", ".join(f"{k} **{e}**" for k, e in file_own.items()) + ". "
            if file_own
            else ""
        )
        + _held_out_text(choice.get("held_out") or [], choice.get("forward") or [])
        + f"Targets: within {100 * targets['low-value']:.0f} points for low-value categories and "
        f"{100 * targets['harmful']:.0f} for harmful ones, in every period. Rows below: the estimator this audit used for "
        f"each category ({estimators_text(s)}), means over seeds.",
        "",
        md_table(_backtest_table(summary)),
        "",
        _backtest_verdict(summary),
        "",
        *_resolution_note(backtest.get("resolution") or {}, targets),
    ]
    return lines + _unmodelled_note(table)


def _resolution_note(resolution: dict, targets: dict) -> list[str]:
    """How often perfectly calibrated probabilities would meet the target on these labels
    (trending.backtest.resolution), and the check of that premise; nothing for a file
    written before it was recorded."""
    if not resolution:
        return []
    chances = "; ".join(
        f"{key} {res['every_period']:.0%} (" + ", ".join(f"{p} {v:.0%}" for p, v in res["per_period"].items()) + ")"
        for key, res in resolution.items()
    )
    spreads = "; ".join(
        f"{key} " + ", ".join(f"{p} {v:.2f}" for p, v in res["spread"].items())
        for key, res in resolution.items()
        if res.get("spread")
    )
    premise = (
        " The premise (each title's probability right) is checked by the calibration spread on the labeled titles, "
        f"sum((y - p)^2) / sum(p (1 - p)), about 1 when it holds, below 1 when the noise is overstated: {spreads}."
    )
    return [
        "Resolution of this check: if the period models' probabilities were perfectly calibrated, their mean would be "
        f"within {100 * targets['low-value']:.0f} points of the labeled share in every period with chance {chances}. "
        "A miss the labels would often show even then is noise of a few hundred titles, not only the estimator's."
        + (premise if spreads else ""),
        "",
    ]


def _backtest_rows_used(table: pd.DataFrame, s: dict) -> dict[str, str]:
    """Per category in the backtest, the estimator whose rows match what this audit used
    (its estimator for the category, else the overall one; the file's choice where the
    backtest has no rows for either)."""
    has = set(table["estimator"])
    overall = s["estimator"] if s["estimator"] in has else None
    per_category = s.get("estimator_by_category") or {}
    out = {}
    for key in dict.fromkeys(table["category"]):
        want = per_category.get(key, overall)
        out[key] = want if want in has else (overall or table["estimator"].iat[0])
    return out


def _recipe_text(spec: dict) -> str:
    trivial = ", trivial self-trained on earlier archive titles" if spec.get("self_training") else ""
    if spec.get("fit") == "full":
        return (
            "a model fitted as `qinglang train` fits the shipped one on what came before it (the labeled titles first "
            f"seen before the period, the other corpora's train rows, Weibo's topic tags dated before it as weak labels{trivial})"
        )
    return (
        f"a model fitted only on the labeled titles first seen before it (the default config on titles only{trivial})"
    )


def _held_out_text(held_out: list[dict], forward: list[dict]) -> str:
    """The error of choosing by backtest, measured on periods the choice was not made on:
    leave one period out, and forward (chosen on the earlier periods only)."""
    parts = []
    for records, how in (
        (held_out, "Choosing on the other periods and measuring the left-out one"),
        (forward, "Choosing on the earlier periods only and measuring the next"),
    ):
        if records:
            worst = pd.DataFrame(records).groupby("category", sort=False)["abs_error"].max()
            parts.append(
                f"{how}, the worst error is " + ", ".join(f"{k} {_pct(v)}" for k, v in worst.items()) + " points. "
            )
    return "".join(parts)


def _backtest_table(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": rows["period"],
            "category": rows["category"],
            "model": rows["model"],
            "estimator": rows["estimator"],
            "estimate": [
                f"{_pct(v)}{'' if u == e else f' ({u})'}"
                for v, u, e in zip(rows["estimate"], rows["used"], rows["estimator"], strict=True)
            ],
            "labeled [95%]": [
                f"{_pct(v)} [{_pct(lo)}, {_pct(hi)}]"
                for v, lo, hi in zip(rows["labeled"], rows["labeled_low"], rows["labeled_high"], strict=True)
            ],
            "labeled +": rows["labeled_positives"],
            "titles": rows["rows"],
            "error (max)": [
                f"{_pct(e)} ({_pct(m)})" for e, m in zip(rows["abs_error"], rows["max_abs_error"], strict=True)
            ],
            "target met": [f"{w} of {n} seeds" for w, n in zip(rows["seeds_within"], rows["seeds"], strict=True)],
        }
    )


def _backtest_verdict(rows: pd.DataFrame) -> str:
    """Per category and model, in how many (period, seed) cells its estimator met the target."""
    rows = rows[rows["abs_error"].notna()]
    parts = []
    for (key, model, name), cat in rows.groupby(["category", "model", "estimator"], sort=False):
        parts.append(
            f"{key} ({model}, {name}) met in {int(cat['seeds_within'].sum())} of {int(cat['seeds'].sum())} "
            f"period×seed cells, worst {_pct(cat['max_abs_error'].max())} points"
        )
    return "Targets: " + "; ".join(parts) + "." if parts else "No backtest rows for the chosen estimators."


def _unmodelled_note(table: pd.DataFrame) -> list[str]:
    none = table[table["model"] == "none"]
    if none.empty:
        return []
    positive = none[none["labeled_positives"] > 0]
    listed = ", ".join(f"{r.category} {r.period} {r.labeled_positives}/{r.rows}" for r in positive.itertuples())
    return [
        f"No period model (too few positive titles before the period) for {none['category'].nunique()} categories in some "
        f"periods; their labeled share there is 0 except {listed or 'nowhere'}.",
        "",
    ]


def _group_caveat(check: pd.DataFrame | None) -> list[str]:
    """How far each group's summed share was from people's labels on the dev check, so the
    stacked figure is read with its bias in view."""
    if check is None:
        return []
    parts = []
    for group, rows in check.groupby("group", sort=False):
        rows = rows[rows["audit"].notna()]
        if not rows.empty:
            parts.append(
                f"{group}: estimated {_pct(rows['audit'].sum())}% vs labeled {_pct(rows['labeled_share'].sum())}%"
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
