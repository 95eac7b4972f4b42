"""The baselines every report shows beside the model: the keyword filter platforms already
run, and on trending titles a plain character n-gram model trained on the same labeled
titles, compared with a paired bootstrap."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import Taxonomy
from qinglang.models.char_baseline import CharNgramBaseline
from qinglang.models.keyword import KeywordBaseline
from qinglang.training.compare import ComparisonSettings, compare_scores

log = logging.getLogger("qinglang.baseline")


def keyword_baseline(taxonomy: Taxonomy, data_dir: Path | None, texts: pd.Series) -> tuple[np.ndarray | None, str]:
    """(0/1/NaN matches per category, a sentence for the report). Without the lexicons
    (no data directory, or unreadable files) the report says why instead of a baseline."""
    if data_dir is None:
        return None, "Keyword-filter baseline: not shown, no data directory (the lexicons live in the corpora folder)."
    try:
        baseline = KeywordBaseline.from_taxonomy(taxonomy, data_dir)
    except DataError as exc:
        log.warning("keyword baseline unavailable: %s", exc)
        return None, f"Keyword-filter baseline: not shown, the lexicons could not be read ({exc})."
    covered = [k for k, has in zip(taxonomy.keys, baseline.has_lexicon_, strict=True) if has]
    note = (
        "Keyword-filter baseline (`keyword P/R/F1`): a text is flagged when it contains a term of the category's lexicons "
        f"(taxonomy.yaml `lexicons`), as platform keyword filters do. Lexicons exist for: {', '.join(f'`{k}`' for k in covered) or 'none'}; "
        "other categories have no keyword baseline."
    )
    return baseline.predict_proba(texts), note


TRENDING_SOURCE = "weibo_trending_labeled"


def char_baseline_comparison(
    fit_rows: pd.DataFrame, eval_rows: pd.DataFrame, model: tuple[np.ndarray, np.ndarray], categories: list[str]
) -> tuple[pd.DataFrame | None, str]:
    """The model against a char 1–3 TF-IDF + LR fitted on the labeled trending titles of
    `fit_rows`, on the trending rows of `eval_rows` (the model's `(proba, flags)` for all of
    `eval_rows`): a paired-bootstrap table (training.compare) and a sentence saying what it is."""
    train = fit_rows[fit_rows["source"] == TRENDING_SOURCE]
    rows = (eval_rows["source"] == TRENDING_SOURCE).to_numpy()
    if train.empty or not rows.any():
        return None, "Char n-gram baseline: not shown, no labeled trending titles among the fit and held-out rows."
    Y = train[categories].to_numpy(dtype="float64", na_value=np.nan)
    baseline = CharNgramBaseline(categories).fit(train["text"], Y)
    proba = baseline.predict_proba(eval_rows.loc[rows, "text"])
    flags = (proba >= 0.5).astype(np.int8)
    settings = ComparisonSettings(metrics=("average_precision",), n_boot=1000, seed=0)
    table = compare_scores(eval_rows.loc[rows], categories, (proba, flags), (model[0][rows], model[1][rows]), settings)
    note = (
        f"Char n-gram baseline: character 1–3 gram TF-IDF + logistic regression (scikit-learn defaults) fitted on the "
        f"{len(train)} labeled trending titles of the fit splits, scored on the {int(rows.sum())} held-out trending "
        "titles; `delta` is the model's AP minus the baseline's with a paired-bootstrap 95% interval "
        "(1,000 resamples of titles); `*`: the interval excludes 0."
    )
    return table, note
