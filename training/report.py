"""The run report: a Markdown page and PR-curve plots, written to a folder and logged to
MLflow. It states plainly which categories lack labeled data."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve  # noqa: E402

from qinglang.data.dataset import Dataset  # noqa: E402
from qinglang.data.taxonomy import Taxonomy  # noqa: E402
from qinglang.models.multilabel import MultiCategoryClassifier  # noqa: E402


def plot_pr_curves(table: pd.DataFrame, scores: np.ndarray, categories: list[str], trained: np.ndarray, split: str, out: Path) -> Path | None:
    """One panel per trained category with positives in `split`, one curve per source."""
    mask_split = (table["split"] == split).to_numpy()
    panels = []
    for j, key in enumerate(categories):
        y = table[key].to_numpy(dtype="float64", na_value=np.nan)
        if trained[j] and np.nansum(y[mask_split]) > 0:
            panels.append((j, key, y))
    if not panels:
        return None
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, (j, key, y) in zip(axes.flat, panels):
        for source in sorted(table.loc[mask_split, "source"].unique()):
            m = mask_split & (table["source"] == source).to_numpy() & ~np.isnan(y)
            if m.any() and 0 < y[m].sum() < m.sum():
                p, r, _ = precision_recall_curve(y[m].astype(int), scores[m, j])
                ax.plot(r, p, label=f"{source} (n+={int(y[m].sum())})")
        ax.set_title(key)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"Precision-recall on the {split} split, per source")
    fig.tight_layout()
    path = out / f"pr_curves_{split}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _md_table(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in rec) + " |")
    return "\n".join(lines)


def write_report(
    out: Path,
    *,
    taxonomy: Taxonomy,
    dataset: Dataset,
    coverage: pd.DataFrame,
    classifier: MultiCategoryClassifier,
    results: pd.DataFrame,
    plots: list[Path],
    run_info: dict[str, str],
) -> Path:
    keys = taxonomy.keys
    lines = ["# qinglang training report", ""]
    lines += [f"- **{k}**: {v}" for k, v in run_info.items()]
    untrained = [f for f in classifier.category_fits_.values() if not f.trained]
    lines += ["", "## Categories without enough labeled data", ""]
    if untrained:
        lines.append("These categories are **not predicted** by this model (score is empty/NaN, flag is 0). Labeled positives are needed:")
        lines += [f"- `{f.key}` ({taxonomy[f.key].name_zh}): {f.reason}" for f in untrained]
    else:
        lines.append("Every category was trained.")
    rare = [f for f in classifier.category_fits_.values() if f.trained and f.n_positive < 100]
    if rare:
        lines += ["", "Trained on fewer than 100 positives (expect wide error bars): " + ", ".join(f"`{f.key}` ({f.n_positive})" for f in rare)]

    lines += ["", "## Data", "", "Rows per source (after dropping unusable rows and merging duplicate texts across sources):", ""]
    src = pd.DataFrame(
        [
            {"source": name, "rows read": r.rows_read, "dropped": sum(r.dropped.values()), "why dropped": "; ".join(f"{k}: {v}" for k, v in r.dropped.items()) or "–",
             "merged into another source's row": r.merged_into_other_rows, "rows kept": r.rows_kept}
            for name, r in dataset.sources.items()
        ]
    )
    lines += [_md_table(src), ""]
    conflicts = {k: v for k, v in dataset.conflicts.items() if v}
    if conflicts:
        lines.append("Duplicate texts with conflicting labels (set to unknown for that category): " + ", ".join(f"`{k}` {v}" for k, v in conflicts.items()))
        lines.append("")
    pos = coverage.pivot_table(index="category", columns="split", values="positive", aggfunc="sum").reindex(keys)
    known = coverage.assign(known=coverage.positive + coverage.negative).pivot_table(index="category", columns="split", values="known", aggfunc="sum").reindex(keys)
    cover = pd.DataFrame({"category": keys})
    for split in pos.columns:
        cover[f"{split} positives / known"] = [f"{int(pos.loc[k, split])} / {int(known.loc[k, split])}" for k in keys]
    lines += ["Labeled positives per category and split (rows where a category is unknown do not count):", "", _md_table(cover), ""]

    lines += ["## Fitted categories", "", "Threshold and validation figures come from out-of-fold predictions on the fit splits (never the evaluation splits).", ""]
    fits = pd.DataFrame(classifier.fit_summary())[["key", "trained", "n_known", "n_positive", "threshold", "validation_precision", "validation_recall", "validation_f1", "validation_ap"]]
    lines += [_md_table(fits), ""]

    lines += ["## Held-out metrics", "", "Per split and source; `all` pools the sources. `_micro` pools decisions over categories, `_macro` averages categories with positives.", ""]
    shown = results[["split", "source", "category", "status", "n", "support", "precision", "recall", "f1", "accuracy", "average_precision"]]
    for (split, source), part in shown.groupby(["split", "source"], sort=True):
        lines += [f"### {split} / {source}", "", _md_table(part.drop(columns=["split", "source"])), ""]
    for p in plots:
        lines += [f"![{p.stem}]({p.name})", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
