"""`qinglang label issues`: rows of a labeled table whose label is likely wrong, found by
cleanlab's `find_label_issues` on out-of-fold probabilities from the project's own model
(the classifier `qinglang train` builds from a config, fitted on the other folds).

Only rows whose label for the category is known take part. The result is ranked (most
likely wrong first, cleanlab's self-confidence order) and has the columns of a labeling
batch, so it can go straight back to reviewers: `qinglang label serve --batch issues.csv`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import Taxonomy
from qinglang.labeling.store import item_id_of
from qinglang.training.config import TrainConfig
from qinglang.training.train import build_classifier

MIN_PER_CLASS = 10


@dataclass(frozen=True)
class IssueRequest:
    category: str
    folds: int = 5
    seed: int = 0


def out_of_fold_proba(
    rows: pd.DataFrame, category: str, config: TrainConfig, taxonomy: Taxonomy, request
) -> np.ndarray:
    """P(category) for every row from a model fitted without that row's fold."""
    y = rows[category].to_numpy(dtype=int)
    keys = taxonomy.keys
    proba = np.full(len(rows), np.nan)
    folds = StratifiedKFold(n_splits=request.folds, shuffle=True, random_state=request.seed)
    kinds = rows["kind"].to_numpy() if "kind" in rows.columns else None
    for fit_idx, held_idx in folds.split(np.zeros(len(y)), y):
        targets = np.full((len(fit_idx), len(keys)), np.nan)
        targets[:, keys.index(category)] = y[fit_idx]
        model = build_classifier(config, taxonomy)
        model.fit(rows["text"].iloc[fit_idx].tolist(), targets, kinds=None if kinds is None else kinds[fit_idx])
        held_kinds = None if kinds is None else list(kinds[held_idx])
        proba[held_idx] = model.predict_proba(rows["text"].iloc[held_idx].tolist(), held_kinds)[:, keys.index(category)]
    return proba


def find_issues(table: pd.DataFrame, taxonomy: Taxonomy, config: TrainConfig, request: IssueRequest) -> pd.DataFrame:
    """The rows cleanlab flags, ranked: item_id, text, kind, selected_by, category, given
    (the label in the table), p_positive (out-of-fold), label_quality (lower: more suspect)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    category = request.category
    if category not in taxonomy:
        raise DataError(f"unknown category {category!r}; the taxonomy has {', '.join(taxonomy.keys)}")
    if category not in table.columns:
        raise DataError(f"the table has no labels for {category!r}")
    rows = table[table[category].notna()].reset_index(drop=True)
    counts = rows[category].astype(int).value_counts()
    if min(counts.get(0, 0), counts.get(1, 0)) < max(MIN_PER_CLASS, request.folds):
        raise DataError(
            f"{category!r} has {counts.get(1, 0)} positive and {counts.get(0, 0)} negative known rows; "
            f"finding label issues needs at least {max(MIN_PER_CLASS, request.folds)} of each"
        )
    p = out_of_fold_proba(rows, category, config, taxonomy, request)
    pred_probs = np.column_stack([1 - p, p])
    labels = rows[category].to_numpy(dtype=int)
    ranked = find_label_issues(labels, pred_probs, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(labels, pred_probs)
    found = rows.iloc[ranked]
    kind = found["kind"].to_numpy() if "kind" in found.columns else "title"
    return pd.DataFrame(
        {
            "item_id": [item_id_of(t) for t in found["text"]],
            "text": found["text"].to_numpy(),
            "kind": kind,
            "selected_by": f"label-issue:{category}",
            "category": category,
            "given": labels[ranked],
            "p_positive": p[ranked].round(4),
            "label_quality": quality[ranked].round(4),
        }
    )
