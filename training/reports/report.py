"""The evaluation report: metrics per category beside the keyword-filter baseline,
operating points on held-out data, a per-source breakdown, plots, and the worst errors
with the features behind them. Written as Markdown + PNG + CSV to a folder (then logged
to MLflow by the caller); `qinglang evaluate` and training share it. It says plainly
which categories lack labeled data rather than averaging over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.data.taxonomy import Taxonomy
from qinglang.models.multilabel import MultiCategoryClassifier
from qinglang.training.metrics import ALL_SOURCES, category_confusion, evaluate_slice, evaluate_table
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
                classifier.flags(scores[mask], profile),
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


def write_evaluation(
    out: Path,
    *,
    table: pd.DataFrame,
    scores: np.ndarray,
    classifier: MultiCategoryClassifier,
    taxonomy: Taxonomy,
    splits: list[str],
    header: dict[str, str],
    baseline: np.ndarray | None = None,
    baseline_note: str = "",
    extra_sections: list[str] = (),
    title: str = "qinglang evaluation report",
) -> Evaluation:
    """`table`: held-out rows (text, split, source, one 1/0/NaN column per category);
    `scores`: the model's probabilities for them; `baseline`: the keyword filter's 0/1/NaN."""
    out.mkdir(parents=True, exist_ok=True)
    keys = classifier.categories_
    flags = classifier.flags(scores)
    results = evaluate_table(table, scores, flags, keys, classifier.trained_, splits)
    base_results = None
    if baseline is not None:
        has_lexicon = ~np.all(np.isnan(baseline), axis=0) if len(baseline) else np.zeros(len(keys), bool)
        base_results = evaluate_table(
            table, np.nan_to_num(baseline), (np.nan_to_num(baseline) >= 0.5).astype(np.int8), keys, has_lexicon, splits
        )
    points = operating_point_table(table, scores, classifier, splits)
    errors = top_errors(table, scores, flags, classifier)
    files = []

    lines = [f"# {title}", ""] + [f"- **{k}**: {v}" for k, v in header.items()]
    untrained = [f for f in classifier.category_fits_.values() if not f.trained]
    rare = [f for f in classifier.category_fits_.values() if f.trained and f.n_positive < RARE_POSITIVES]
    lines += ["", "## Read this first", ""]
    if untrained:
        lines.append(
            "Not predicted by this model (no score, never flagged) for lack of labeled data: "
            + "; ".join(f"`{f.key}` {taxonomy[f.key].name_zh} ({f.reason})" for f in untrained)
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
    if baseline_note:
        lines += ["", baseline_note]

    for split in splits:
        pooled = _pooled(results, split)
        if pooled.empty:
            continue
        summary = pooled[
            ["category", "status", "n", "support", "precision", "recall", "f1", "average_precision", "ece"]
        ].rename(columns={"support": "positives", "average_precision": "AP", "ece": "ECE"})
        if base_results is not None:
            kw = _pooled(base_results, split).set_index("category")
            for m, name in (("precision", "keyword P"), ("recall", "keyword R"), ("f1", "keyword F1")):
                summary[name] = [  # pooled rows would average other categories than the model's: per category only
                    kw.loc[k, m] if k in kw.index and kw.loc[k, "status"] == "ok" and not k.startswith("_") else np.nan
                    for k in summary["category"]
                ]
        lines += [
            "",
            f"## {split}: per category (all sources pooled)",
            "",
            "At the model's default operating point. `_micro` pools all decisions, `_macro` averages categories with positives. "
            "ECE: expected calibration error (0 = probabilities match observed rates).",
            "",
            md_table(summary),
        ]

    if not points.empty:
        lines += [
            "",
            "## Operating points",
            "",
            "Thresholds stored in the model, chosen on out-of-fold validation scores; pick one at prediction time "
            '(`qinglang score --profile`, HTTP `"profile"`). `target reached = False` with threshold `inf`: the target '
            "(e.g. precision ≥ 0.9 for `auto`) was not reachable on validation data, so that profile never flags the category.",
            "",
            md_table(points),
        ]

    lines += [
        "",
        "## Per source",
        "",
        "F1 / AP / positives per category and source; a source speaks only for the categories it labels.",
    ]
    for split in splits:
        part = results[
            (results["split"] == split) & (results["status"] == "ok") & ~results["category"].str.startswith("_")
        ]
        if part.empty:
            continue
        cell = part.assign(
            cell=[
                f"{f:.2f} / {a:.2f} / {int(s)}"
                for f, a, s in zip(part["f1"], part["average_precision"], part["support"], strict=True)
            ]
        )
        grid = (
            cell.pivot(index="category", columns="source", values="cell")
            .reindex([k for k in keys if k in set(part["category"])])
            .fillna("–")
        )
        lines += ["", f"### {split}", "", md_table(grid.reset_index())]

    lines += ["", "## Plots", ""]
    for split in splits:
        mask = (table["split"] == split).to_numpy()
        confusion = category_confusion(table.loc[mask], flags[mask], keys, classifier.trained_)
        if not confusion.empty:
            confusion.to_csv(out / f"confusion_{split}.csv")
            files.append(out / f"confusion_{split}.csv")
        made = [
            pr_curves(table, scores, keys, split, out, baseline),
            threshold_curves(table, scores, keys, dict(classifier.profiles_), split, out),
            reliability(table, scores, keys, split, out),
            confusion_heatmap(confusion, split, out),
        ]
        for path in filter(None, made):
            files.append(path)
            lines += [f"![{path.stem}]({path.name})", ""]
        if not confusion.empty:
            pairs = confusion.stack().sort_values(ascending=False)
            pairs = pairs[pairs > 0].head(5)
            if len(pairs):
                lines += [
                    f"Most frequent cross-category false flags on {split}: "
                    + "; ".join(f"labeled `{a}` flagged `{b}` {v:.0%}" for (a, b), v in pairs.items()),
                    "",
                ]

    lines += [
        "## Top errors",
        "",
        "Per category, the highest-scored false positives (with the features that raised the score) and the lowest-scored "
        "false negatives (with the features that lowered it). Feature weights are exact contributions to the linear score.",
        "",
    ]
    for key in keys:
        part = errors[errors["category"] == key]
        if part.empty:
            continue
        shown = part.assign(text=part["text"].str.slice(0, 80))[
            ["error", "source", "split", "score", "text", "drivers"]
        ]
        lines += [f"### {key} ({taxonomy[key].name_zh})", "", md_table(shown), ""]

    lines += list(extra_sections)
    results.to_csv(out / "metrics.csv", index=False)
    (out / "metrics.json").write_text(results.to_json(orient="records", indent=2, force_ascii=False), "utf-8")
    points.to_csv(out / "operating_points.csv", index=False)
    errors.to_csv(out / "top_errors.csv", index=False)
    files += [out / "metrics.csv", out / "metrics.json", out / "operating_points.csv", out / "top_errors.csv"]
    if base_results is not None:
        base_results.to_csv(out / "keyword_baseline_metrics.csv", index=False)
        files.append(out / "keyword_baseline_metrics.csv")
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    files.append(out / "report.md")
    return Evaluation(results, base_results, points, errors, files)


def training_sections(
    *, taxonomy: Taxonomy, dataset, coverage: pd.DataFrame, classifier: MultiCategoryClassifier
) -> list[str]:
    """What only a training run knows: the data it read and what each category's fit learned."""
    keys = taxonomy.keys
    lines = [
        "## Training data",
        "",
        "Rows per source (after dropping unusable rows and merging duplicate texts across sources):",
        "",
    ]
    src = pd.DataFrame(
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
    lines += [md_table(src), ""]
    conflicts = {k: v for k, v in dataset.conflicts.items() if v}
    if conflicts:
        lines += [
            "Duplicate texts with conflicting labels (set to unknown for that category): "
            + ", ".join(f"`{k}` {v}" for k, v in conflicts.items()),
            "",
        ]
    pos = coverage.pivot_table(index="category", columns="split", values="positive", aggfunc="sum").reindex(keys)
    known = (
        coverage.assign(known=coverage.positive + coverage.negative)
        .pivot_table(index="category", columns="split", values="known", aggfunc="sum")
        .reindex(keys)
    )
    cover = pd.DataFrame({"category": keys})
    for split in pos.columns:
        cover[f"{split} positives / known"] = [f"{int(pos.loc[k, split])} / {int(known.loc[k, split])}" for k in keys]
    lines += [
        "Labeled positives per category and split (rows where a category is unknown do not count):",
        "",
        md_table(cover),
        "",
    ]
    lines += [
        "## Fitted categories",
        "",
        "Out-of-fold validation figures on the fit splits at the default operating point.",
        "",
    ]
    fits = pd.DataFrame(classifier.fit_summary())[
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
    lines += [md_table(fits), ""]
    return lines
