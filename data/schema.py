"""The canonical labeled table: `text`, `source`, `split`, `kind` (title, post or comment),
and per category 1 / 0 / <NA>.

<NA> means *unknown*: the row's source does not annotate that category. It is never
read as negative; models fit each category only on rows where it is known."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import KINDS, Taxonomy

SPLITS = ("train", "dev", "test")
LABEL_DTYPE = "Int8"
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def dedup_key(text: str) -> str:
    """The identity of a text for duplicate detection: NFKC-folded, lower-cased, with
    punctuation, emoji and white space removed, so trivially re-punctuated copies of a
    test text are recognised as the same text."""
    folded = unicodedata.normalize("NFKC", text).lower()
    key = _NOT_WORD.sub("", folded)
    return key or folded.strip()


def hash_split(key: str, dev_fraction: float, test_fraction: float) -> str:
    """A split chosen by the text's hash alone: the same text always lands on the same side."""
    bucket = int.from_bytes(hashlib.sha1(key.encode("utf-8")).digest()[:8], "big") / 2**64
    if bucket < test_fraction:
        return "test"
    if bucket < test_fraction + dev_fraction:
        return "dev"
    return "train"


def validate_canonical(frame: pd.DataFrame, taxonomy: Taxonomy) -> None:
    """Fail loudly if a table is not canonical, before any model sees it."""
    missing = [c for c in ("text", "source", "split", "kind", *taxonomy.keys) if c not in frame.columns]
    if missing:
        raise DataError(f"canonical table lacks columns {missing}")
    bad_split = ~frame["split"].isin(SPLITS)
    if bad_split.any():
        raise DataError(
            f"split must be one of {SPLITS}; found {sorted(frame.loc[bad_split, 'split'].astype(str).unique())}"
        )
    bad_kind = ~frame["kind"].isin(KINDS)
    if bad_kind.any():
        raise DataError(
            f"kind must be one of {KINDS}; found {sorted(frame.loc[bad_kind, 'kind'].astype(str).unique())}"
        )
    for key in taxonomy.keys:
        values = set(frame[key].dropna().unique().tolist())
        if not values <= {0, 1}:
            raise DataError(f"category {key!r} has values {sorted(values)}; expected 0, 1 or <NA>")
