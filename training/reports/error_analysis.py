"""The model's worst mistakes per category, with the features behind each score: what a
person reads to decide whether labels, features or thresholds need work."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qinglang.models.explain import drivers
from qinglang.models.multilabel import MultiCategoryClassifier

COLUMNS = ["category", "error", "source", "split", "score", "threshold", "text", "drivers"]


def top_errors(
    table: pd.DataFrame, scores: np.ndarray, flags: np.ndarray, classifier: MultiCategoryClassifier, k: int = 5
) -> pd.DataFrame:
    """Per trained category: the `k` highest-scored false positives (with the features that
    raised their score) and the `k` lowest-scored false negatives (with those that lowered it)."""
    rows = []
    for j, key in enumerate(classifier.categories_):
        if not classifier.trained_[j]:
            continue
        y = table[key].to_numpy(dtype="float64", na_value=np.nan)
        for error, wrong, order, sign in (
            ("false positive", (y == 0) & (flags[:, j] == 1), -1, 1),
            ("false negative", (y == 1) & (flags[:, j] == 0), 1, -1),
        ):
            idx = np.flatnonzero(wrong)
            idx = idx[np.argsort(order * scores[idx, j], kind="stable")][:k]
            if not idx.size:
                continue
            texts = table["text"].iloc[idx].tolist()
            found = drivers(classifier, texts, key, k=6, sign=sign)
            for i, text, features in zip(idx, texts, found, strict=True):
                rows.append(
                    {
                        "category": key,
                        "error": error,
                        "source": table["source"].iat[i],
                        "split": table["split"].iat[i],
                        "score": float(scores[i, j]),
                        "threshold": float(classifier.thresholds_[j]),
                        "text": text,
                        "drivers": " ".join(str(d) for d in features),
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)
