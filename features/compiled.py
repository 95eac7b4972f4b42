"""A lean inference path for the fitted TF-IDF features.

scikit-learn's `Pipeline.transform` spends about 1.3 ms per call on input validation and
dispatch, which caps single-text scoring near 750 texts/s; moderation services call with
one text at a time. This reuses the fitted pieces (the vectorizers' vocabularies and idf
weights) and does only the arithmetic:
count n-grams, tf → (1 + log tf) · idf → l2 per vectorizer. `tests/unit/features/test_compiled.py`
holds it to sklearn's output.

Where the time went (issue 19, trending titles, one core, before): jieba about half, then
n-gram generation and vocabulary look-ups in Python, with NumPy int64 vocabulary values
(sklearn's), whose hashing and arithmetic are several times slower than ints'. Now:
- each text is normalised once, for all blocks;
- the char block (n ≤ 3) is counted for the whole batch in NumPy: its vocabulary becomes a
  `CodedCharVocabulary` (sorted int64 codes, ~4 MB instead of a ~40 MB dict of str keys)
  and replaces the vectorizer's own dict, so the process holds one copy;
- word n-grams of a callable tokenizer (`_word_counter`) and char blocks of n > 3
  (`_char_counter`) are looked up as they are made, without sklearn's list and `Counter`;
  any other vectorizer shape counts its own analyzer's n-grams;
- vocabulary values are made plain ints, in place.
The known n-grams of a text keep their first-occurrence order, the order its CSR row had
before, because the product sums a row's entries in that order: scores stay bit for bit
what they were (checked on 20k archive titles, and by the tests against sklearn).

Only the shapes `build_vectorizer` produces are compiled (a normaliser followed by a
union of TF-IDF vectorizers with l2 or no norm); `compile_features` returns None for any
other pipeline, and callers fall back to sklearn."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, ItemsView, Mapping
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

# text → {column in the block: count} of the block's known n-grams, in first-occurrence order.
Counter_ = Callable[[str], dict[int, int]]


@dataclass(frozen=True)
class _Block:
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    sublinear_tf: bool
    binary: bool
    l2: bool
    offset: int
    counter: Counter_ | None = None  # None: count the analyzer's n-grams
    coded: tuple[int, int, re.Pattern] | None = None  # (min_n, max_n, white space runs): NumPy char n-grams


def _analyzer_counter(analyzer: Callable[[str], list[str]], vocabulary: dict[str, int]) -> Counter_:
    """Any analyzer: its n-grams, counted, then looked up (what sklearn's transform does)."""
    get = vocabulary.get

    def count(text: str) -> dict[int, int]:
        found: dict[int, int] = {}
        for gram, n in Counter(analyzer(text)).items():
            j = get(gram)
            if j is not None:
                found[j] = n
        return found

    return count


def _char_counter(vocabulary: dict[str, int], min_n: int, max_n: int, white_spaces: re.Pattern) -> Counter_:
    """sklearn's `_char_ngrams` (runs of two or more white space characters → one space; all
    n-grams of the smallest n left to right, then the next n ...) fused with the look-up."""
    get = vocabulary.get

    def count(text: str) -> dict[int, int]:
        # Every white space character but " " is unprintable, so a printable text without
        # "  " has no run to replace: skip the regex (normalised texts almost never have one).
        if "  " in text or not text.isprintable():
            text = white_spaces.sub(" ", text)
        found: dict[int, int] = {}
        length = len(text)
        for n in range(min_n, min(max_n + 1, length + 1)):
            grams = text if n == 1 else [text[i : i + n] for i in range(length - n + 1)]
            for j in map(get, grams):
                if j is not None:
                    found[j] = found.get(j, 0) + 1
        return found

    return count


def _word_counter(
    vocabulary: dict[str, int], tokenizer: Callable[[str], list[str]], min_n: int, max_n: int
) -> Counter_:
    """sklearn's `_word_ngrams` of a callable tokenizer (no stop words): the tokens, then
    every n-gram joined by one space, smallest n first, fused with the look-up."""
    get = vocabulary.get

    def count(text: str) -> dict[int, int]:
        tokens = tokenizer(text)
        found: dict[int, int] = {}
        length = len(tokens)
        for n in range(min_n, min(max_n + 1, length + 1)):
            if n == 1:
                grams = tokens
            elif n == 2:
                grams = [a + " " + b for a, b in zip(tokens, tokens[1:], strict=False)]
            else:
                grams = [" ".join(tokens[i : i + n]) for i in range(length - n + 1)]
            for j in map(get, grams):
                if j is not None:
                    found[j] = found.get(j, 0) + 1
        return found

    return count


@dataclass(frozen=True)
class SparseRows:
    """CSR arrays of a batch of feature rows (float32, as the pipeline's)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_features: int

    def to_csr(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(len(self.indptr) - 1, self.n_features))


_SMALL_BATCH = 8  # up to this many texts, `_entries` assembles rows in Python (NumPy calls cost more)
_SHIFT = 21  # bits per character in a code: code points + 1 are below 2**21


class CodedCharVocabulary(Mapping):
    """A char n-gram vocabulary (n ≤ 3) as two NumPy arrays instead of a dict of 300k str keys:
    each n-gram is one int64 code (its code points + 1, 21 bits each), kept sorted, with its
    column beside it. About 4 MB instead of about 40; looked up for a whole batch at once
    with `searchsorted`, where the dict cost one Python look-up per n-gram (the char block
    has about three n-grams per character).

    It replaces the char vectorizer's `vocabulary_` after compiling, so the pipeline holds
    one copy. It is a read-only Mapping, which is all sklearn's `transform` and
    `get_feature_names_out` need. It pickles as its two arrays, so loading a model never
    builds the dict of 300k strings (about 40 MB at the load's peak, issue 19); a model saved
    this way needs a qinglang that has this class, and older model files (plain dicts) still
    load and are coded when compiled."""

    def __init__(self, vocabulary: Mapping[str, int]) -> None:
        keys = list(vocabulary)
        cols = np.fromiter((vocabulary[k] for k in keys), dtype=np.int64, count=len(keys))
        codes = _codes_of(keys)
        order = np.argsort(codes, kind="stable")
        self.codes = codes[order]
        self.cols = cols[order]
        if len(self.codes) > 1 and (np.diff(self.codes) == 0).any():
            raise ValueError("two char n-grams with one code")

    @staticmethod
    def supports(vocabulary: Mapping[str, int]) -> bool:
        return all(0 < len(k) <= 3 for k in vocabulary)

    def lookup(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mask of the codes that are n-grams of the vocabulary, their columns)."""
        if not len(self.codes):
            return np.zeros(len(codes), dtype=bool), np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.codes, codes)
        np.minimum(pos, len(self.codes) - 1, out=pos)
        hit = self.codes[pos] == codes
        return hit, self.cols[pos[hit]]

    def __getitem__(self, gram: str) -> int:
        """One n-gram (sklearn's own `transform` looks them up one by one): about 1 µs, where
        a dict takes 0.1; scoring never comes here, it looks up whole batches."""
        if not isinstance(gram, str) or not 0 < len(gram) <= 3:
            raise KeyError(gram)
        code = 0
        for ch in gram:
            code = (code << _SHIFT) | (ord(ch) + 1)
        i = int(self.codes.searchsorted(code))
        if i == len(self.codes) or int(self.codes[i]) != code:
            raise KeyError(gram)
        return int(self.cols[i])

    def items(self) -> ItemsView:
        return _CodedItems(self)

    def __contains__(self, gram: object) -> bool:
        try:
            self[gram]
        except KeyError:
            return False
        return True

    def __iter__(self):
        for code in self.codes.tolist():
            chars = []
            while code:
                chars.append(chr((code & ((1 << _SHIFT) - 1)) - 1))
                code >>= _SHIFT
            yield "".join(reversed(chars))

    def __len__(self) -> int:
        return len(self.codes)

    def __reduce__(self):
        return _coded_vocabulary, (self.codes, self.cols)


def _coded_vocabulary(codes: np.ndarray, cols: np.ndarray) -> CodedCharVocabulary:
    """Unpickle a `CodedCharVocabulary` from its two arrays (no dict of 300k strings is ever
    built while loading: that dict was the largest part of a model load's peak memory)."""
    vocabulary = CodedCharVocabulary.__new__(CodedCharVocabulary)
    vocabulary.codes, vocabulary.cols = codes, cols
    return vocabulary


class _CodedItems(ItemsView):
    """(n-gram, column) pairs without a look-up per n-gram (`get_feature_names_out` sorts them)."""

    def __iter__(self):
        yield from zip(self._mapping, self._mapping.cols.tolist(), strict=True)


def _code_points(text: str) -> np.ndarray:
    """Code point + 1 of every character, as int64 (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.int64) + 1


def _codes_of(grams: list[str]) -> np.ndarray:
    """The code of each 1-3 character string (see `CodedCharVocabulary`)."""
    lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
    cps = _code_points("".join(grams))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    codes = np.zeros(len(grams), dtype=np.int64)
    for j in range(int(lengths.max()) if len(grams) else 0):
        has = lengths > j
        codes[has] = (codes[has] << _SHIFT) | cps[starts[has] + j]
    return codes


def _coded_char_counts(
    text: str, vocabulary: CodedCharVocabulary, min_n: int, max_n: int, white_spaces: re.Pattern
) -> dict[int, int]:
    """`_coded_char_entries` for one text, with the codes made in Python and one look-up
    call: for a single text NumPy's per-call overhead outweighs what it saves. Same columns,
    counts and order."""
    if "  " in text or not text.isprintable():
        text = white_spaces.sub(" ", text)
    cps = [ord(ch) + 1 for ch in text]
    codes: list[int] = []
    for n in range(min_n, max_n + 1):
        if n == 1:
            codes += cps
        elif n == 2:
            codes += [(a << _SHIFT) | b for a, b in zip(cps, cps[1:], strict=False)]
        else:
            codes += [(a << 2 * _SHIFT) | (b << _SHIFT) | c for a, b, c in zip(cps, cps[1:], cps[2:], strict=False)]
    found: dict[int, int] = {}
    if codes:
        _, cols = vocabulary.lookup(np.array(codes, dtype=np.int64))
        for j in cols.tolist():
            found[j] = found.get(j, 0) + 1
    return found


def _coded_char_entries(
    texts: list[str], vocabulary: CodedCharVocabulary, min_n: int, max_n: int, white_spaces: re.Pattern
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's `_char_ngrams` counted for a batch of texts in NumPy: (known n-grams per
    text, their block columns, their counts), each text's n-grams in first-occurrence order
    of sklearn's sequence (every 1-gram left to right, then every 2-gram, ...), the order
    the dict path gives, so the CSR rows and their sums are the same."""
    # White space runs → one space, as `_char_ngrams` does; every white space character but
    # " " is unprintable, so a printable text without "  " has none (nearly all texts).
    texts = [white_spaces.sub(" ", t) if "  " in t or not t.isprintable() else t for t in texts]
    n_texts = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n_texts)
    cps = _code_points("".join(texts))
    text_of = np.repeat(np.arange(n_texts, dtype=np.int64), lengths)
    text_end = np.cumsum(lengths)[text_of]  # one past each position's text
    position = np.arange(len(cps), dtype=np.int64)
    codes, owners = [], []
    for n in range(min_n, max_n + 1):
        at = position[position + n <= text_end]
        code = cps[at]
        for j in range(1, n):
            code = (code << _SHIFT) | cps[at + j]
        codes.append(code)
        owners.append(text_of[at])
    codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    owners = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
    hit, cols = vocabulary.lookup(codes)
    owners = owners[hit]
    # n-major order within a text; a stable sort by text keeps it and groups the texts.
    order = np.argsort(owners, kind="stable")
    owners, cols = owners[order], cols[order]
    size = max(len(vocabulary), 1)
    keys, first, counts = np.unique(owners * size + cols, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    keys, counts = keys[order], counts[order]
    return np.bincount(keys // size, minlength=n_texts), keys % size, counts


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
        self._l2 = np.array([block.l2 for block in blocks], dtype=bool)

    def counts(self, text: str) -> list[tuple[int, list[int], list[int]]]:
        """Per vectorizer block with known n-grams: (block number, feature columns, counts)."""
        cols, counts, lengths, blocks, _ = self._entries([text])
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        return [
            (b, cols[i:j].tolist(), counts[i:j].astype(np.int64).tolist())
            for b, i, j in zip(blocks.tolist(), bounds[:-1], bounds[1:], strict=True)
        ]

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
        counts, entries per (text, block) segment, each segment's block, CSR row pointer).
        Each text is normalised once; a coded char block counts the whole batch in NumPy,
        the other blocks count text by text; the blocks' entries are then interleaved into
        rows in one NumPy step."""
        normalized = [normalize_text(t, self.max_chars, self.deobfuscate, self.phonetic) for t in texts]
        if len(texts) <= _SMALL_BATCH:
            return self._small_entries(normalized)
        per_block = []  # per block: (entries per text, block columns, counts)
        for block in self.blocks:
            if block.coded is not None:
                per_block.append(_coded_char_entries(normalized, block.vocabulary, *block.coded))
                continue
            count = self._counter(block)
            cols: list[int] = []
            counts: list[int] = []
            lengths: list[int] = []
            for text in normalized:
                known = count(text)
                cols.extend(known)
                counts.extend(known.values())
                lengths.append(len(known))
            per_block.append(
                (np.asarray(lengths, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(counts))
            )
        return self._merge(len(texts), per_block)

    def _small_entries(self, normalized: list[str]) -> tuple:
        """`_entries` for a few texts, assembled in Python: the arrays are equal, element for
        element, to what the NumPy merge makes (a test holds the two paths together)."""
        counters = [(b, block.offset, self._counter(block)) for b, block in enumerate(self.blocks)]
        indices: list[int] = []
        counts: list[int] = []
        seg_len: list[int] = []
        seg_block: list[int] = []
        indptr = [0]
        for text in normalized:
            for b, offset, count in counters:
                known = count(text)
                if known:
                    indices.extend([j + offset for j in known] if offset else known)
                    counts.extend(known.values())
                    seg_len.append(len(known))
                    seg_block.append(b)
            indptr.append(len(indices))
        return (
            np.asarray(indices, dtype=np.int64),
            np.asarray(counts, dtype=np.float64),
            np.asarray(seg_len, dtype=np.int64),
            np.asarray(seg_block, dtype=np.int64),
            np.asarray(indptr, dtype=np.int64),
        )

    @staticmethod
    def _counter(block: _Block) -> Counter_:
        if block.coded is not None:
            vocabulary, settings = block.vocabulary, block.coded
            return lambda text: _coded_char_counts(text, vocabulary, *settings)
        return block.counter or _analyzer_counter(block.analyzer, block.vocabulary)

    def _merge(self, n_texts: int, per_block: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple:
        """Blocks' entries (each in text order) → rows: text by text, block after block."""
        seg = np.zeros((n_texts, len(per_block)), dtype=np.int64)
        for b, (lengths, _, _) in enumerate(per_block):
            seg[:, b] = lengths
        indptr = np.zeros(n_texts + 1, dtype=np.int64)
        np.cumsum(seg.sum(axis=1), out=indptr[1:])
        seg_start = indptr[:-1, None] + np.cumsum(seg, axis=1) - seg  # where each (text, block) segment starts
        total = int(indptr[-1])
        cols = np.empty(total, dtype=np.int64)
        counts = np.empty(total, dtype=np.float64)
        for b, (lengths, block_cols, block_counts) in enumerate(per_block):
            if not len(block_cols):
                continue
            block_start = np.cumsum(lengths) - lengths  # each text's first entry in the block's arrays
            dest = np.repeat(seg_start[:, b] - block_start, lengths) + np.arange(len(block_cols))
            cols[dest] = block_cols + self.blocks[b].offset
            counts[dest] = block_counts
        flat = seg.ravel()
        nonempty = flat > 0
        seg_block = np.tile(np.arange(len(per_block), dtype=np.int64), n_texts)[nonempty]
        return cols, counts, flat[nonempty], seg_block, indptr

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
            l2 = self._l2[blocks]
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
        vocabulary = _plain_int_values(tfidf.vocabulary_)
        coded = _coded_settings(tfidf, vocabulary)
        if coded is not None:
            if not isinstance(vocabulary, CodedCharVocabulary):
                vocabulary = tfidf.vocabulary_ = CodedCharVocabulary(vocabulary)  # one copy, see the class
            counter = None
        else:
            counter = _fast_counter(tfidf, vocabulary)
        blocks.append(
            _Block(
                analyzer=tfidf.build_analyzer(),
                vocabulary=vocabulary,
                sublinear_tf=tfidf.sublinear_tf,
                binary=tfidf.binary,
                l2=tfidf.norm == "l2",
                offset=offset,
                counter=counter,
                coded=coded,
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


def _coded_settings(tfidf: TfidfVectorizer, vocabulary: Mapping[str, int]) -> tuple | None:
    """(min_n, max_n, white space pattern) where the char block can be counted in NumPy: a
    plain `analyzer="char"` vectorizer of n ≤ 3 (see `_fast_counter` for what plain means)."""
    if tfidf.input != "content" or tfidf.preprocessor is not None or tfidf.strip_accents or tfidf.lowercase:
        return None
    min_n, max_n = tfidf.ngram_range
    if tfidf.analyzer != "char" or not 1 <= min_n <= max_n <= 3:
        return None
    if not isinstance(vocabulary, CodedCharVocabulary) and not CodedCharVocabulary.supports(vocabulary):
        return None
    return min_n, max_n, tfidf._white_spaces


def _plain_int_values(vocabulary: Mapping[str, int]) -> Mapping[str, int]:
    """The vectorizer's vocabulary, its NumPy integer values replaced by the same plain ints,
    in place: one dict is shared by sklearn's path and this one, and sklearn accepts either.
    A model saved afterwards pickles plain ints, smaller and faster to load."""
    if isinstance(vocabulary, dict) and any(type(j) is not int for j in vocabulary.values()):
        for gram, j in vocabulary.items():  # same keys: the dict is not resized while iterating
            vocabulary[gram] = int(j)
    return vocabulary


def _fast_counter(tfidf: TfidfVectorizer, vocabulary: dict[str, int]) -> Counter_ | None:
    """The fused counter for the vectorizer shapes `build_vectorizer` makes, or None (use the
    analyzer) for any setting that would change the n-grams (preprocessor, stop words,
    another input type, a custom or regex tokenizer, char_wb)."""
    if tfidf.input != "content" or tfidf.preprocessor is not None or tfidf.strip_accents or tfidf.lowercase:
        return None
    min_n, max_n = tfidf.ngram_range
    if tfidf.analyzer == "char":
        return _char_counter(vocabulary, min_n, max_n, tfidf._white_spaces)
    if tfidf.analyzer == "word" and callable(tfidf.tokenizer) and tfidf.stop_words is None:
        return _word_counter(vocabulary, tfidf.tokenizer, min_n, max_n)
    return None
