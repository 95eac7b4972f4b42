"""The evaluation report: metrics per category beside the keyword-filter baseline,
operating points on held-out data, a per-source breakdown, plots, and the worst errors
with the features behind them. Written as Markdown + PNG + CSV to a folder (then logged
to MLflow by the caller); `qinglang evaluate` and training share it. It says plainly
which categories lack labeled data rather than averaging over them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.data.taxonomy import Taxonomy
from qinglang.models.multilabel import MultiCategoryClassifier
from qinglang.training.compare import significant
from qinglang.training.metrics import ALL_SOURCES, category_confusion, evaluate_slice, evaluate_table, row_kinds
from qinglang.training.reports.error_analysis import top_errors
from qinglang.training.reports.plots import confusion_heatmap, pr_curves, reliability, threshold_curves

RARE_POSITIVES = 100


@dataclass
class Evaluation:
    """What a report was built from, for callers that log or print it."""

    results: pd.DataFrame
    baseline_results: pd.DataFrame | None
    operating_points: pd.DataFrame
    errors: pd.DataFrame
    files: list[Path] = field(default_factory=list)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.3f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in rec) + " |")
    return "\n".join(lines)


def _pooled(results: pd.DataFrame, split: str) -> pd.DataFrame:
    part = results[results["split"] == split]
    sources = part["source"].unique()
    return part[part["source"] == (ALL_SOURCES if ALL_SOURCES in sources else sources[0])] if len(sources) else part


def operating_point_table(
    table: pd.DataFrame, scores: np.ndarray, classifier: MultiCategoryClassifier, splits: list[str]
) -> pd.DataFrame:
    """Each stored operating point: its validation (out-of-fold) figures next to what it
    gives on each held-out split, so a profile's promise can be checked."""
    held = {}
    for split in splits:
        mask = (table["split"] == split).to_numpy()
        for profile in classifier.profiles_:
            part = evaluate_slice(
                table.loc[mask],
                scores[mask],
                classifier.flags(scores[mask], profile, _kinds_of(table, mask)),
                classifier.categories_,
                classifier.trained_,
            )
            held[split, profile] = part.set_index("category") if not part.empty else None
    rows = []
    for key, fit in classifier.category_fits_.items():
        if not fit.trained:
            continue
        for profile, point in fit.operating_points.items():
            row = {
                "category": key,
                "profile": profile,
                "threshold": point["threshold"],
                "target reached": point["reached"],
                "validation P": point["precision"],
                "validation R": point["recall"],
            }
            for split in splits:
                part = held[split, profile]
                ok = part is not None and key in part.index and part.loc[key, "status"] == "ok"
                row[f"{split} P"] = part.loc[key, "precision"] if ok else np.nan
                row[f"{split} R"] = part.loc[key, "recall"] if ok else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class EvaluationInputs:
    """What a report is built from. `table`: held-out rows (text, split, source, one 1/0/NaN
    column per category); `scores`: the model's probabilities for them; `baseline`: the
    keyword filter's 0/1/NaN (None: not shown, `baseline_note` says why); `header`: the
    report's key facts; `extra_sections`: Markdown lines appended at the end."""

    table: pd.DataFrame
    scores: np.ndarray
    classifier: MultiCategoryClassifier
    taxonomy: Taxonomy
    splits: list[str]
    header: dict[str, str]
    baseline: np.ndarray | None = None
    baseline_note: str = ""
    extra_sections: Sequence[str] = ()
    title: str = "qinglang evaluation report"


def write_evaluation(out: Path, inputs: EvaluationInputs) -> Evaluation:
    """Compute the metrics, write report.md with its plots and CSV / JSON tables to `out`,
    and return them with the files written, in order."""
    out.mkdir(parents=True, exist_ok=True)
    flags = inputs.classifier.flags(inputs.scores, None, row_kinds(inputs.table))
    evaluation = _evaluate(inputs, flags)
    lines = _read_first_section(inputs)
    lines += _summary_sections(inputs, evaluation)
    lines += _operating_points_section(evaluation.operating_points)
    lines += _per_source_section(inputs, evaluation.results)
    lines += _plots_section(inputs, flags, out, evaluation.files)
    lines += _top_errors_section(inputs, evaluation.errors)
    lines += list(inputs.extra_sections)
    evaluation.files += _write_tables(out, evaluation)
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    evaluation.files.append(out / "report.md")
    return evaluation


def _evaluate(inputs: EvaluationInputs, flags: np.ndarray) -> Evaluation:
    """Metrics of the model (and of the keyword baseline, when given), operating points and
    top errors; no files yet."""
    table, scores, classifier, splits = inputs.table, inputs.scores, inputs.classifier, inputs.splits
    keys = classifier.categories_
    results = evaluate_table(table, scores, flags, keys, classifier.trained_, splits)
    base_results = None
    if inputs.baseline is not None:
        baseline = inputs.baseline
        has_lexicon = ~np.all(np.isnan(baseline), axis=0) if len(baseline) else np.zeros(len(keys), bool)
        base_results = evaluate_table(
            table, np.nan_to_num(baseline), (np.nan_to_num(baseline) >= 0.5).astype(np.int8), keys, has_lexicon, splits
        )
    points = operating_point_table(table, scores, classifier, splits)
    errors = top_errors(table, scores, flags, classifier)
    return Evaluation(results, base_results, points, errors, [])


def _read_first_section(inputs: EvaluationInputs) -> list[str]:
    """Title, header, and what the reader must know before any figure: untrained and rare categories."""
    fits = inputs.classifier.category_fits_.values()
    lines = [f"# {inputs.title}", ""] + [f"- **{k}**: {v}" for k, v in inputs.header.items()]
    untrained = [f for f in fits if not f.trained]
    rare = [f for f in fits if f.trained and f.n_positive < RARE_POSITIVES]
    lines += ["", "## Read this first", ""]
    if untrained:
        lines.append(
            "Not predicted by this model (no score, never flagged) for lack of labeled data: "
            + "; ".join(f"`{f.key}` {inputs.taxonomy[f.key].name_zh} ({f.reason})" for f in untrained)
            + "."
        )
    if rare:
        lines.append(
            f"Trained on fewer than {RARE_POSITIVES} labeled positives, so their figures have wide error bars: "
            + ", ".join(f"`{f.key}` ({f.n_positive})" for f in rare)
            + "."
        )
    lines.append(
        "Every figure below is on held-out rows the model was not fitted or tuned on. A category counts only rows "
        "where its label is known; `–` means no labeled positives in that slice, so no figure is possible."
    )
    if inputs.baseline_note:
        lines += ["", inputs.baseline_note]
    return lines


def _split_summary(evaluation: Evaluation, split: str) -> pd.DataFrame:
    """One split's pooled per-category figures, with the keyword baseline's beside them when there is one."""
    summary = _pooled(evaluation.results, split)[
        ["category", "status", "n", "support", "precision", "recall", "f1", "average_precision", "ece"]
    ].rename(columns={"support": "positives", "average_precision": "AP", "ece": "ECE"})
    if evaluation.baseline_results is not None:
        kw = _pooled(evaluation.baseline_results, split).set_index("category")
        for m, name in (("precision", "keyword P"), ("recall", "keyword R"), ("f1", "keyword F1")):
            summary[name] = [  # pooled rows would average other categories than the model's: per category only
                kw.loc[k, m] if k in kw.index and kw.loc[k, "status"] == "ok" and not k.startswith("_") else np.nan
                for k in summary["category"]
            ]
    return summary


def _summary_sections(inputs: EvaluationInputs, evaluation: Evaluation) -> list[str]:
    lines = []
    for split in inputs.splits:
        if _pooled(evaluation.results, split).empty:
            continue
        lines += [
            "",
            f"## {split}: per category (all sources pooled)",
            "",
            "At the model's default operating point. `_micro` pools all decisions, `_macro` averages categories with positives. "
            "ECE: expected calibration error (0 = probabilities match observed rates).",
            "",
            md_table(_split_summary(evaluation, split)),
        ]
    return lines


def _operating_points_section(points: pd.DataFrame) -> list[str]:
    if points.empty:
        return []
    return [
        "",
        "## Operating points",
        "",
        "Thresholds stored in the model, chosen on out-of-fold validation scores; pick one at prediction time "
        '(`qinglang score --profile`, HTTP `"profile"`). `target reached = False` with threshold `inf`: the target '
        "(e.g. precision ≥ 0.9 for `auto`) was not reachable on validation data, so that profile never flags the category.",
        "",
        md_table(points),
    ]


def _source_grid(results: pd.DataFrame, split: str, keys: list[str]) -> pd.DataFrame | None:
    """F1 / AP / positives per category (rows) and source (columns) on one split; None when nothing is ok."""
    part = results[(results["split"] == split) & (results["status"] == "ok") & ~results["category"].str.startswith("_")]
    if part.empty:
        return None
    cell = part.assign(
        cell=[
            f"{f:.2f} / {a:.2f} / {int(s)}"
            for f, a, s in zip(part["f1"], part["average_precision"], part["support"], strict=True)
        ]
    )
    return (
        cell.pivot(index="category", columns="source", values="cell")
        .reindex([k for k in keys if k in set(part["category"])])
        .fillna("–")
    )


def _per_source_section(inputs: EvaluationInputs, results: pd.DataFrame) -> list[str]:
    lines = [
        "",
        "## Per source",
        "",
        "F1 / AP / positives per category and source; a source speaks only for the categories it labels.",
    ]
    for split in inputs.splits:
        grid = _source_grid(results, split, inputs.classifier.categories_)
        if grid is not None:
            lines += ["", f"### {split}", "", md_table(grid.reset_index())]
    return lines


def _plots_section(inputs: EvaluationInputs, flags: np.ndarray, out: Path, files: list[Path]) -> list[str]:
    """Every split's plots (and confusion CSV), each file appended to `files`."""
    lines = ["", "## Plots", ""]
    for split in inputs.splits:
        lines += _split_plots(inputs, flags, split, out, files)
    return lines


def _split_plots(inputs: EvaluationInputs, flags: np.ndarray, split: str, out: Path, files: list[Path]) -> list[str]:
    table, scores, classifier = inputs.table, inputs.scores, inputs.classifier
    keys = classifier.categories_
    mask = (table["split"] == split).to_numpy()
    confusion = category_confusion(table.loc[mask], flags[mask], keys, classifier.trained_)
    if not confusion.empty:
        confusion.to_csv(out / f"confusion_{split}.csv")
        files.append(out / f"confusion_{split}.csv")
    made = [
        pr_curves(table, scores, keys, split, out, inputs.baseline),
        threshold_curves(table, scores, keys, dict(classifier.profiles_), split, out),
        reliability(table, scores, keys, split, out),
        confusion_heatmap(confusion, split, out),
    ]
    lines = []
    for path in filter(None, made):
        files.append(path)
        lines += [f"![{path.stem}]({path.name})", ""]
    return lines + _cross_flags(confusion, split)


def _cross_flags(confusion: pd.DataFrame, split: str) -> list[str]:
    """The most frequent cross-category false flags, as a sentence."""
    if confusion.empty:
        return []
    pairs = confusion.stack().sort_values(ascending=False)
    pairs = pairs[pairs > 0].head(5)
    if not len(pairs):
        return []
    return [
        f"Most frequent cross-category false flags on {split}: "
        + "; ".join(f"labeled `{a}` flagged `{b}` {v:.0%}" for (a, b), v in pairs.items()),
        "",
    ]


def _top_errors_section(inputs: EvaluationInputs, errors: pd.DataFrame) -> list[str]:
    lines = [
        "## Top errors",
        "",
        "Per category, the highest-scored false positives (with the features that raised the score) and the lowest-scored "
        "false negatives (with the features that lowered it). Feature weights are exact contributions to the linear score.",
        "",
    ]
    for key in inputs.classifier.categories_:
        part = errors[errors["category"] == key]
        if part.empty:
            continue
        shown = part.assign(text=part["text"].str.slice(0, 80))[
            ["error", "source", "split", "score", "text", "drivers"]
        ]
        lines += [f"### {key} ({inputs.taxonomy[key].name_zh})", "", md_table(shown), ""]
    return lines


def _write_tables(out: Path, evaluation: Evaluation) -> list[Path]:
    """The metrics, operating points, top errors and keyword baseline as CSV / JSON; the files written."""
    results, base_results = evaluation.results, evaluation.baseline_results
    results.to_csv(out / "metrics.csv", index=False)
    (out / "metrics.json").write_text(results.to_json(orient="records", indent=2, force_ascii=False), "utf-8")
    evaluation.operating_points.to_csv(out / "operating_points.csv", index=False)
    evaluation.errors.to_csv(out / "top_errors.csv", index=False)
    files = [out / "metrics.csv", out / "metrics.json", out / "operating_points.csv", out / "top_errors.csv"]
    if base_results is not None:
        base_results.to_csv(out / "keyword_baseline_metrics.csv", index=False)
        files.append(out / "keyword_baseline_metrics.csv")
    return files


def training_sections(
    *, taxonomy: Taxonomy, dataset, coverage: pd.DataFrame, classifier: MultiCategoryClassifier
) -> list[str]:
    """What only a training run knows: the data it read and what each category's fit learned."""
    lines = [
        "## Training data",
        "",
        "Rows per source (after dropping unusable rows and merging duplicate texts across sources):",
        "",
        md_table(_sources_table(dataset)),
        "",
    ]
    conflicts = {k: v for k, v in dataset.conflicts.items() if v}
    if conflicts:
        lines += [
            "Duplicate texts with conflicting labels (set to unknown for that category): "
            + ", ".join(f"`{k}` {v}" for k, v in conflicts.items()),
            "",
        ]
    lines += [
        "Labeled positives per category and split (rows where a category is unknown do not count):",
        "",
        md_table(_coverage_table(coverage, taxonomy.keys)),
        "",
    ]
    lines += [
        "## Fitted categories",
        "",
        "Out-of-fold validation figures on the fit splits at the default operating point.",
        "",
        md_table(_fits_table(classifier)),
        "",
    ]
    return lines + _kinds_section(classifier)


def _kinds_section(classifier: MultiCategoryClassifier) -> list[str]:
    """The model card's per-kind table: how each category is calibrated and thresholded on
    titles, posts and comments, from how many labeled rows of that kind."""
    rows = [
        {
            "category": key,
            "kind": kind,
            "status": k["status"],
            "labeled rows": k["n_known"],
            "positives": k["n_positive"],
            "mean probability (out of fold)": "–" if k["mean_probability"] is None else f"{k['mean_probability']:.4f}",
        }
        for key, fit in classifier.category_fits_.items()
        for kind, k in fit.kinds.items()
    ]
    if not rows:
        return []
    return [
        "## Per kind: calibration and thresholds",
        "",
        "Each category is calibrated, and its thresholds chosen, on each kind's own labeled rows. "
        "`calibrated`: enough positives and negatives of that kind; `prior_shift`: labeled rows of that kind but "
        f"fewer than {classifier.min_positives} positives, so the probabilities are shifted to that kind's "
        "observed rate and **no profile flags the category on that kind**; `pooled`: no labeled rows of that "
        "kind, so the all-kinds calibration and thresholds are used unvalidated; `not_applicable`: the taxonomy "
        "says the category does not apply to that kind (no score).",
        "",
        md_table(pd.DataFrame(rows)),
        "",
    ]


def _kinds_of(table: pd.DataFrame, mask: np.ndarray) -> np.ndarray | None:
    kinds = row_kinds(table)
    return None if kinds is None else kinds[mask]


def _sources_table(dataset) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "source": name,
                "rows read": r.rows_read,
                "dropped": sum(r.dropped.values()),
                "why dropped": "; ".join(f"{k}: {v}" for k, v in r.dropped.items()) or "–",
                "merged into another source's row": r.merged_into_other_rows,
                "rows kept": r.rows_kept,
            }
            for name, r in dataset.sources.items()
        ]
    )


def _coverage_table(coverage: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """'positives / known' per category and split."""
    pos = coverage.pivot_table(index="category", columns="split", values="positive", aggfunc="sum").reindex(keys)
    known = (
        coverage.assign(known=coverage.positive + coverage.negative)
        .pivot_table(index="category", columns="split", values="known", aggfunc="sum")
        .reindex(keys)
    )
    cover = pd.DataFrame({"category": keys})
    for split in pos.columns:
        cover[f"{split} positives / known"] = [f"{int(pos.loc[k, split])} / {int(known.loc[k, split])}" for k in keys]
    return cover


def _fits_table(classifier: MultiCategoryClassifier) -> pd.DataFrame:
    return pd.DataFrame(classifier.fit_summary())[
        [
            "key",
            "trained",
            "n_known",
            "n_positive",
            "threshold",
            "validation_precision",
            "validation_recall",
            "validation_f1",
            "validation_ap",
        ]
    ]


def char_baseline_section(comparison: pd.DataFrame | None, note: str) -> list[str]:
    """The model beside the plain char n-gram baseline on held-out trending titles."""
    lines = ["## Trending titles: the model against a plain char n-gram baseline", ""]
    if comparison is None:
        return [*lines, note, ""]
    shown = comparison[(comparison["status"] == "ok") | (comparison["category"] == "_macro")]
    rows = [
        {
            "category": r["category"],
            "positives": r["support"],
            "model AP": f"{r['candidate_average_precision']:.3f}",
            "char baseline AP": f"{r['baseline_average_precision']:.3f}",
            "delta [95% interval]": f"{r['delta_average_precision']:+.3f} "
            f"[{r['delta_average_precision_low']:+.3f}, {r['delta_average_precision_high']:+.3f}]",
            "interval excludes 0": "*" if mark else "",
        }
        for r, mark in zip(shown.to_dict("records"), significant(shown, "average_precision"), strict=True)
    ]
    return [*lines, note, "", md_table(pd.DataFrame(rows)), ""]
