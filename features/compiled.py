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

import math
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from qinglang.features.normalize import TextNormalizer, normalize_text


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


def _tf(block: _Block, count: int) -> float:
    if block.binary:
        return 1.0
    return 1.0 + math.log(count) if block.sublinear_tf else float(count)


_SCALAR_MAX_ENTRIES = 256


class CompiledFeatures:
    """Texts → the fitted pipeline's TF-IDF rows. Python only counts n-grams; the
    weighting runs vectorised over the whole batch."""

    def __init__(self, max_chars: int, blocks: list[_Block], idf: np.ndarray) -> None:
        self.max_chars = max_chars
        self.blocks = blocks
        self.idf = idf
        self.n_features = len(idf)

    def rows(self, texts: list[str]) -> SparseRows:
        indptr, indices, counts, seg_len, seg_block = [0], [], [], [], []
        for text in texts:
            normalized = normalize_text(text, self.max_chars)
            for b, block in enumerate(self.blocks):
                vocab, offset, before = block.vocabulary, block.offset, len(indices)
                for gram, count in Counter(block.analyzer(normalized)).items():
                    j = vocab.get(gram)
                    if j is not None:
                        indices.append(j + offset)
                        counts.append(count)
                if len(indices) > before:
                    seg_len.append(len(indices) - before)
                    seg_block.append(b)
            indptr.append(len(indices))
        weigh = self._weigh_scalar if len(indices) <= _SCALAR_MAX_ENTRIES else self._weigh_vectorised
        data = weigh(indices, counts, seg_len, seg_block)
        return SparseRows(np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64), data, self.n_features)

    def _weigh_scalar(self, indices: list[int], counts: list[int], seg_len: list[int], seg_block: list[int]) -> np.ndarray:
        """Per-entry Python arithmetic: cheaper than a dozen NumPy calls for one short text."""
        data, pos, idf = [], 0, self.idf
        for n, b in zip(seg_len, seg_block):
            block = self.blocks[b]
            seg = [_tf(block, c) * idf.item(j) for j, c in zip(indices[pos:pos + n], counts[pos:pos + n])]
            if block.l2:
                norm = math.sqrt(sum(w * w for w in seg))
                if norm > 0:
                    seg = [w / norm for w in seg]
            data.extend(seg)
            pos += n
        return np.asarray(data, dtype=np.float32)

    def _weigh_vectorised(self, indices: list[int], counts: list[int], seg_len: list[int], seg_block: list[int]) -> np.ndarray:
        data = np.asarray(counts, dtype=np.float64)
        lengths = np.asarray(seg_len, dtype=np.int64)
        blocks = np.asarray(seg_block, dtype=np.int64)
        entry_block = np.repeat(blocks, lengths)
        for b, block in enumerate(self.blocks):
            mine = entry_block == b
            if block.binary:
                data[mine] = 1.0
            elif block.sublinear_tf:
                data[mine] = 1.0 + np.log(data[mine])
        data *= self.idf[np.asarray(indices, dtype=np.int64)]
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        norms = np.sqrt(np.add.reduceat(data * data, starts))
        l2 = np.array([blk.l2 for blk in self.blocks])[blocks]
        norms[~l2 | (norms == 0)] = 1.0
        data /= np.repeat(norms, lengths)
        return data.astype(np.float32)

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
        if type(tfidf) is not TfidfVectorizer or tfidf.norm not in ("l2", None) or tfidf.strip_accents or tfidf.lowercase:
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
    return CompiledFeatures(normalizer.max_chars, blocks, np.concatenate(idf) if idf else np.zeros(0))
