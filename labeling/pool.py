"""The texts a labeling batch is drawn from: the trending archive in its native format (a
folder of day files) or any table, minus the texts already labeled, with near-duplicates
folded into one.

Two texts are near-duplicates when their duplicate keys (`dedup_key`: NFKC, lower case,
no punctuation or spaces) are equal, or when the cosine similarity of their character
bigram sets is at least `NEAR_DUPLICATE_SIMILARITY`: titles that differ by punctuation,
spacing or a few characters ("张三官宣恋情" / "张三官宣恋情了!"), not titles that share a
frame ("北京今天下雪" / "上海今天下雪" are about 0.6)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from qinglang.data.errors import DataError
from qinglang.data.loaders.archive import load_trending_archive
from qinglang.data.loaders.tabular import read_table
from qinglang.data.schema import dedup_key

NEAR_DUPLICATE_SIMILARITY = 0.75
_BIGRAMS = HashingVectorizer(
    analyzer="char", ngram_range=(2, 2), n_features=2**20, binary=True, norm="l2", alternate_sign=False, lowercase=False
)


@dataclass(frozen=True)
class PoolSpec:
    """Where the pool comes from: `path` is an archive folder (YYYY-MM-DD.json day files)
    or a table (CSV/TSV/Parquet/JSONL) with `text_column`; `date_from`/`date_to` limit an
    archive by day."""

    path: Path
    text_column: str = "text"
    date_from: date | None = None
    date_to: date | None = None


def read_pool(spec: PoolSpec) -> pd.DataFrame:
    """One row per distinct text (by duplicate key, first occurrence kept): `text` and,
    for the archive, `first_seen`. An empty pool is an error."""
    path = Path(spec.path)
    if path.is_dir():
        archive = load_trending_archive(path, spec.date_from, spec.date_to)
        frame = archive.titles.rename(columns={"title": "text"})[["text", "first_seen"]]
        frame = frame.sort_values("first_seen", kind="stable")
    else:
        raw = read_table(path)
        if spec.text_column not in raw.columns:
            raise DataError(f"pool has no {spec.text_column!r} column; found {list(raw.columns)}", file=str(path))
        frame = raw.rename(columns={spec.text_column: "text"})
    frame = frame[frame["text"].notna()].copy()
    frame["text"] = frame["text"].astype(str).str.strip()
    frame = frame[frame["text"] != ""]
    frame = frame[~frame["text"].map(dedup_key).duplicated()].reset_index(drop=True)
    if frame.empty:
        raise DataError("the pool has no texts (after dropping empty ones and the date limits)", file=str(path))
    return frame


def labeled_texts(paths: Iterable[str | Path], text_column: str = "text") -> list[str]:
    """Texts of labeled tables (any supported format) or folders of them, to keep out of a batch."""
    texts: list[str] = []
    for path in map(Path, paths):
        files = (
            sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".tsv", ".parquet", ".jsonl"))
            if (path.is_dir())
            else [path]
        )
        for file in files:
            table = read_table(file)
            if text_column not in table.columns:
                raise DataError(f"labeled table has no {text_column!r} column", file=str(file))
            texts.extend(str(t) for t in table[text_column].dropna())
    return texts


def bigram_vectors(texts: Sequence[str]) -> sparse.csr_matrix:
    """Unit-length character bigram sets of the texts' duplicate keys."""
    return _BIGRAMS.transform([dedup_key(t) for t in texts]).tocsr()


class NearDuplicateFilter:
    """Accepts a text unless it is a near-duplicate of a text already known (the labeled
    texts it starts with, then every text it accepted)."""

    def __init__(self, known: Sequence[str] = (), threshold: float = NEAR_DUPLICATE_SIMILARITY) -> None:
        self.threshold = threshold
        self._keys = {dedup_key(t) for t in known}
        self._vectors = bigram_vectors(known) if len(known) else None

    def _similar_to_known(self, vectors: sparse.csr_matrix) -> np.ndarray:
        if self._vectors is None:
            return np.zeros(vectors.shape[0], dtype=bool)
        best = (vectors @ self._vectors.T).max(axis=1).toarray().ravel()
        return best >= self.threshold

    def accept(self, texts: Sequence[str], want: int) -> list[int]:
        """Positions of up to `want` texts to accept, in order, each no near-duplicate of a
        known text or of one accepted before it; they become known."""
        vectors = bigram_vectors(texts)
        blocked = self._similar_to_known(vectors)
        accepted: list[int] = []
        for i, text in enumerate(texts):
            if len(accepted) >= want:
                break
            key = dedup_key(text)
            if blocked[i] or key in self._keys:
                continue
            if accepted and (vectors[accepted] @ vectors[i].T).max() >= self.threshold:
                continue
            accepted.append(i)
            self._keys.add(key)
        if accepted:
            chosen = vectors[accepted]
            self._vectors = chosen if self._vectors is None else sparse.vstack([self._vectors, chosen]).tocsr()
        return accepted

    def is_known(self, texts: Sequence[str]) -> np.ndarray:
        """Mask: the text is a known text or a near-duplicate of one."""
        exact = np.array([dedup_key(t) in self._keys for t in texts], dtype=bool)
        return exact | self._similar_to_known(bigram_vectors(texts))
