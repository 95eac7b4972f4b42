"""A lean inference path for the fitted TF-IDF features.

scikit-learn's `Pipeline.transform` spends about 1.3 ms per call on input validation and
dispatch, which caps single-text scoring near 750 texts/s; moderation services call with
one text at a time. This reuses the fitted pieces (the vectorizers' own analyzers, vocabularies
and idf weights) and does only the arithmetic:
count n-grams, tf → (1 + log tf) · idf → l2 per vectorizer. `tests/unit/test_compiled.py`
holds it to sklearn's output.

Only the shapes `build_vectorizer` produces are compiled (a normaliser followed by a
union of TF-IDF vectorizers with l2 or no norm); `compile_features` returns None for any
other pipeline, and callers fall back to sklearn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

# scipy's own CSR x dense kernel (what `csr_matrix @ dense` runs): the one-text path calls it
# directly so that its arithmetic is the batch path's, without building a matrix object.
from scipy.sparse._sparsetools import csr_matvecs
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from qinglang.features.normalize import TextNormalizer, normalize_text
from qinglang.features.phonetic import PhoneticMap


@dataclass(frozen=True)
class _Block:
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    sublinear_tf: bool
    binary: bool
    l2: bool
    offset: int


@dataclass(frozen=True)
class SparseRows:
    """CSR arrays of a batch of feature rows (float32, as the pipeline's)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_features: int

    def to_csr(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(len(self.indptr) - 1, self.n_features))


class CompiledFeatures:
    """Texts → the fitted pipeline's TF-IDF rows. Python only counts n-grams; weighting
    runs in NumPy, over the whole batch (`rows`) or one text at a time (`dot`)."""

    def __init__(
        self,
        max_chars: int,
        blocks: list[_Block],
        idf: np.ndarray,
        deobfuscate: bool = False,
        phonetic: PhoneticMap | None = None,
    ) -> None:
        self.max_chars = max_chars
        self.deobfuscate = deobfuscate
        self.phonetic = phonetic
        self.blocks = blocks
        self.idf = idf
        self.n_features = len(idf)

    def counts(self, text: str) -> list[tuple[int, list[int], list[int]]]:
        """Per vectorizer block with known n-grams: (block number, feature columns, counts)."""
        normalized = normalize_text(text, self.max_chars, self.deobfuscate, self.phonetic)
        found = []
        for b, block in enumerate(self.blocks):
            vocab, offset, cols, counts = block.vocabulary, block.offset, [], []
            for gram, count in Counter(block.analyzer(normalized)).items():
                j = vocab.get(gram)
                if j is not None:
                    cols.append(j + offset)
                    counts.append(count)
            if cols:
                found.append((b, cols, counts))
        return found

    def dot(self, text: str, coef: np.ndarray) -> np.ndarray:
        """The text's feature row times `coef` (features x K), without building a sparse
        matrix: the cheapest path for one text. Bit for bit a row of `rows(...)` times
        `coef`: the same weighting code and scipy's own CSR kernel, so a text's score never
        depends on the batch it came in."""
        cols, counts, lengths, blocks, indptr = self._entries([text])
        data = self._weights(counts, cols, lengths, blocks)
        out = np.zeros(coef.shape[1], dtype=np.result_type(data.dtype, coef.dtype))
        if data.size:
            csr_matvecs(1, self.n_features, coef.shape[1], indptr, cols, data, np.ascontiguousarray(coef).ravel(), out)
        return out

    def _entries(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every text's known n-grams, in text order then block order: (feature columns,
        counts, entries per (text, block) segment, each segment's block, CSR row pointer)."""
        indptr, indices, counts, seg_len, seg_block = [0], [], [], [], []
        for text in texts:
            for b, cols, found in self.counts(text):
                indices.extend(cols)
                counts.extend(found)
                seg_len.append(len(cols))
                seg_block.append(b)
            indptr.append(len(indices))
        return (
            np.asarray(indices, dtype=np.int64),
            np.asarray(counts, dtype=np.float64),
            np.asarray(seg_len, dtype=np.int64),
            np.asarray(seg_block, dtype=np.int64),
            np.asarray(indptr, dtype=np.int64),
        )

    def _weights(self, data: np.ndarray, cols: np.ndarray, lengths: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """Counts → tf-idf weights (float32), each (text, block) segment l2-normalised where
        its block is. Element-wise and per-segment only, so a segment's weights do not
        depend on the other segments of the batch."""
        entry_block = np.repeat(blocks, lengths)
        for b, block in enumerate(self.blocks):
            mine = entry_block == b
            if block.binary:
                data[mine] = 1.0
            elif block.sublinear_tf:
                data[mine] = 1.0 + np.log(data[mine])
        data *= self.idf[cols]
        if data.size:
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            norms = np.sqrt(np.add.reduceat(data * data, starts))
            l2 = np.array([blk.l2 for blk in self.blocks])[blocks]
            norms[~l2 | (norms == 0)] = 1.0
            data /= np.repeat(norms, lengths)
        return data.astype(np.float32)

    def rows(self, texts: list[str]) -> SparseRows:
        cols, counts, lengths, blocks, indptr = self._entries(texts)
        return SparseRows(indptr, cols, self._weights(counts, cols, lengths, blocks), self.n_features)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        return self.rows(texts).to_csr()


def compile_features(vectorizer: object) -> CompiledFeatures | None:
    """The compiled equivalent of a fitted `build_vectorizer` pipeline, or None when the
    pipeline has another shape (callers then use `vectorizer.transform`)."""
    if not isinstance(vectorizer, Pipeline) or len(vectorizer.steps) != 2:
        return None
    (_, normalizer), (_, union) = vectorizer.steps
    if not isinstance(normalizer, TextNormalizer) or not isinstance(union, FeatureUnion) or union.transformer_weights:
        return None
    blocks, idf, offset = [], [], 0
    for _, tfidf in union.transformer_list:
        if (
            type(tfidf) is not TfidfVectorizer
            or tfidf.norm not in ("l2", None)
            or tfidf.strip_accents
            or tfidf.lowercase
        ):
            return None
        vocabulary = tfidf.vocabulary_
        blocks.append(
            _Block(
                analyzer=tfidf.build_analyzer(),
                vocabulary=vocabulary,
                sublinear_tf=tfidf.sublinear_tf,
                binary=tfidf.binary,
                l2=tfidf.norm == "l2",
                offset=offset,
            )
        )
        idf.append(tfidf.idf_.astype(np.float64) if tfidf.use_idf else np.ones(len(vocabulary)))
        offset += len(vocabulary)
    return CompiledFeatures(
        normalizer.max_chars,
        blocks,
        np.concatenate(idf) if idf else np.zeros(0),
        deobfuscate=normalizer.deobfuscate,
        phonetic=normalizer.phonetic,
    )
