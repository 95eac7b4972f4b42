"""Metrics per category on labeled held-out rows, per source and pooled.

Only rows where a category is known count for it. A category that was not trained is
reported as such; one with no positives in a slice gets its counts and accuracy but no
recall, F1 or AP, and precision is NaN where nothing was flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

ALL_SOURCES = "all"
METRICS = ("n", "support", "precision", "recall", "f1", "accuracy", "macro_f1_2class", "average_precision", "ece")


def _binary_metrics(y: np.ndarray, score: np.ndarray, flag: np.ndarray) -> dict[str, float]:
    tp = int(((flag == 1) & (y == 1)).sum())
    fp = int(((flag == 1) & (y == 0)).sum())
    fn = int(((flag == 0) & (y == 1)).sum())
    tn = int(((flag == 0) & (y == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    f1_neg = 2 * tn / (2 * tn + fn + fp) if tn + fn + fp else float("nan")
    return {
        "n": len(y),
        "support": int(y.sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / len(y),
        "macro_f1_2class": float(np.nanmean([f1, f1_neg])) if len(y) else float("nan"),
        "average_precision": float(average_precision_score(y, score)) if 0 < y.sum() < len(y) else float("nan"),
        "ece": expected_calibration_error(y, score) if len(y) else float("nan"),
    }


def expected_calibration_error(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """Row-weighted mean |observed rate - mean score| over equal-width score bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    gap = np.abs(np.bincount(which, y, bins) - np.bincount(which, scores, bins))
    return float(gap.sum() / len(y))


MACRO = "_macro"
# `_macro_20pos` averages only categories with this many positives in the slice: the AP of
# a category with 4 positives moves by 0.25 with one text, and would swamp the mean.
MACRO_MIN_POSITIVES = 20


def _macro(name: str, rows: pd.DataFrame) -> dict:
    out = {"category": name, "status": "ok", "n": int(rows["n"].sum()), "support": int(rows["support"].sum())}
    return out | {m: float(rows[m].mean()) for m in ("precision", "recall", "f1", "average_precision")}


def evaluate_slice(
    labels: pd.DataFrame, scores: np.ndarray, flags: np.ndarray, categories: list[str], trained: np.ndarray
) -> pd.DataFrame:
    """One row per category plus `_micro`, `_macro` (over categories with positives) and
    `_macro_20pos` (over categories with at least 20)."""
    rows = []
    for j, key in enumerate(categories):
        y = labels[key].to_numpy(dtype="float64", na_value=np.nan)
        known = ~np.isnan(y)
        if trained[j]:
            known &= ~np.isnan(scores[:, j])  # rows of a kind the category does not apply to get no score
        if not known.any():
            continue
        yk = y[known].astype(int)
        base = {"category": key, "n": int(known.sum()), "support": int(yk.sum())}
        if not trained[j]:
            rows.append({**base, "status": "not trained"})
            continue
        rows.append(
            {
                **_binary_metrics(yk, scores[known, j], flags[known, j]),
                "category": key,
                "status": "ok" if yk.sum() else "no positives",
            }
        )
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    scored = table[table["status"] == "ok"]
    decided = table[table["status"].isin(["ok", "no positives"])]  # false positives count even where no positive exists
    if not scored.empty:
        tp, fp, fn = decided["tp"].sum(), decided["fp"].sum(), decided["fn"].sum()
        micro = {
            "category": "_micro",
            "status": "ok",
            "n": int(decided["n"].sum()),
            "support": int(decided["support"].sum()),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }
        macros = [_macro(MACRO, scored)]
        enough = scored[scored["support"] >= MACRO_MIN_POSITIVES]
        if not enough.empty:
            macros.append(_macro(f"{MACRO}_{MACRO_MIN_POSITIVES}pos", enough))
        table = pd.concat([table, pd.DataFrame([micro, *macros])], ignore_index=True)
    return table


def evaluate_table(
    table: pd.DataFrame,
    scores: np.ndarray,
    flags: np.ndarray,
    categories: list[str],
    trained: np.ndarray,
    splits: list[str] | None = None,
) -> pd.DataFrame:
    """Metrics for every (split, source) and for each split pooled over sources (`all`).

    A source is evaluated on the categories it labels: those known on at least
    `MIN_LABELED_SHARE` of its rows in the split. A label a few of its rows carry because an
    identical text in another corpus has it (merged duplicates) counts in the pooled `all`
    rows only, instead of a one-row category dragging the source's `_macro` (COLD had an
    `extreme_emotion n=1` row)."""
    results = []
    split_col, source_col = table["split"], table["source"]
    for split in splits or sorted(split_col.unique()):
        in_split = (split_col == split).to_numpy()
        sources = sorted(source_col[in_split].unique())
        scopes = [(s, in_split & (source_col == s).to_numpy()) for s in sources]
        if len(sources) > 1:
            scopes.append((ALL_SOURCES, in_split))
        for source, mask in scopes:
            rows = table.loc[mask] if source == ALL_SOURCES else _labeled_by_source(table.loc[mask], categories)
            part = evaluate_slice(rows, scores[mask], flags[mask], categories, trained)
            if not part.empty:
                part.insert(0, "source", source)
                part.insert(0, "split", split)
                results.append(part)
    columns = ["split", "source", "category", "status", *METRICS, "tp", "fp", "fn"]
    return pd.concat(results, ignore_index=True).reindex(columns=columns) if results else pd.DataFrame(columns=columns)


MIN_LABELED_SHARE = 0.1


def _labeled_by_source(rows: pd.DataFrame, categories: list[str]) -> pd.DataFrame:
    """`rows` with the categories known on fewer than MIN_LABELED_SHARE of them blanked."""
    sparse = [k for k in categories if rows[k].notna().mean() < MIN_LABELED_SHARE]
    if not sparse:
        return rows
    rows = rows.copy()
    rows[sparse] = pd.NA
    return rows


def metrics_for_mlflow(results: pd.DataFrame) -> dict[str, float]:
    """`{split}.{source}.{category}.{metric}` → value, finite values only."""
    out = {}
    for rec in results.to_dict("records"):
        for m in METRICS:
            v = rec.get(m)
            if v is not None and not pd.isna(v):
                out[f"{rec['split']}.{rec['source']}.{rec['category']}.{m}"] = float(v)
    return out


def category_confusion(
    table: pd.DataFrame, flags: np.ndarray, categories: list[str], trained: np.ndarray, min_rows: int = 5
) -> pd.DataFrame:
    """Rate[A, B]: among texts labeled A and known not to be B, the share flagged B. Which
    categories the model mixes up; only rows where both labels are known count, and a cell
    with fewer than `min_rows` such rows is NaN."""
    labels = table[categories].to_numpy(dtype="float64", na_value=np.nan)
    rate = np.full((len(categories), len(categories)), np.nan)
    for a in range(len(categories)):
        for b in range(len(categories)):
            if a == b or not trained[b]:
                continue
            rows = (labels[:, a] == 1) & (labels[:, b] == 0)
            if rows.sum() >= min_rows:
                rate[a, b] = flags[rows, b].mean()
    frame = pd.DataFrame(rate, index=categories, columns=categories)
    return frame.dropna(how="all").dropna(axis=1, how="all")


def row_kinds(table: pd.DataFrame) -> np.ndarray | None:
    """Each row's kind (title, post, comment) for scoring held-out rows as what they are;
    None for a table without a `kind` column (the model's default kind then)."""
    return table["kind"].to_numpy() if "kind" in table.columns else None
