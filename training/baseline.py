"""The keyword filter platforms already run, scored on the same rows as the model so every
report shows what the model adds over it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import Taxonomy
from qinglang.models.keyword import KeywordBaseline

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
