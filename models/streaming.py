"""Out-of-core training: the same per-category calibrated linear model, fitted from a
stream of chunks so that memory does not grow with the data.

What changes against `MultiCategoryClassifier`, and why:
- Features are hashed (`HashingVectorizer`: no vocabulary to hold) and weighted by an IDF
  counted in a first pass over the stream; words and characters as in the in-memory model,
  each block sublinear TF x IDF, L2-normalised.
- One `SGDClassifier` (logistic loss, averaged SGD) per category, `partial_fit` chunk by
  chunk on the rows where the category is known, for `epochs` passes; class weights
  ("balanced") from the label counts of the first pass. Rows are shuffled within each chunk;
  the stream itself should not be sorted by label or source.
- Calibration and operating points come from a held-out slice of the stream, chosen by a
  hash of the text (`validation_fraction`), scored in a last pass: cross-validation would
  mean refitting per fold, so several more passes.

What stays the same: it *is* a `MultiCategoryClassifier` once fitted (coefficients, Platt
calibration, profiles, `category_fits_`), so the bundle, the MLflow pyfunc, the HTTP
service and `qinglang score` use it unchanged. Memory: one chunk, the hashed weight
matrix (`n_features` x 2 x categories x 4 bytes) and the validation scores.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from qinglang.features.normalize import TextNormalizer
from qinglang.features.phonetic import PhoneticMap
from qinglang.features.tokenizer import JiebaTokenizer
from qinglang.models.multilabel import CategoryFit, MultiCategoryClassifier, calibrate, too_few
from qinglang.models.thresholds import DEFAULT_PROFILE, ProfileSet, ThresholdRule

ChunkSource = Callable[[], Iterable[pd.DataFrame]]


class HashedTfidf(TransformerMixin, BaseEstimator):
    """Hashed counts → sublinear TF x IDF → L2, with the IDF counted chunk by chunk
    (`count`, then `finish`)."""

    def __init__(self, analyzer: str = "word", ngram_range=(1, 2), n_features: int = 2**19, tokenizer=None) -> None:
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.n_features = n_features
        self.tokenizer = tokenizer

    def _hasher(self) -> HashingVectorizer:
        extra = {"tokenizer": self.tokenizer, "token_pattern": None} if self.analyzer == "word" else {}
        return HashingVectorizer(
            analyzer=self.analyzer,
            ngram_range=tuple(self.ngram_range),
            n_features=self.n_features,
            alternate_sign=False,
            norm=None,
            lowercase=False,
            dtype=np.float32,
            **extra,
        )

    def count(self, texts: list[str]) -> HashedTfidf:
        X = self._hasher().transform(texts)
        if not hasattr(self, "df_"):
            self.df_, self.n_docs_ = np.zeros(self.n_features, dtype=np.int64), 0
        self.df_ += np.bincount(X.indices, minlength=self.n_features)
        self.n_docs_ += X.shape[0]
        return self

    def finish(self) -> HashedTfidf:
        self.idf_ = (np.log((1 + self.n_docs_) / (1 + self.df_)) + 1).astype(np.float32)  # sklearn's smooth IDF
        del self.df_
        return self

    def fit(self, X, y=None):
        return self.count(list(X)).finish()

    def feature_names_for(self, normalized_text: str) -> dict[int, str]:
        """Column → n-gram for the n-grams of one (normalised) text: a hashed model has no
        vocabulary, but a text's own n-grams can be hashed again to name its features."""
        from sklearn.feature_extraction import FeatureHasher

        grams = list(dict.fromkeys(self._hasher().build_analyzer()(normalized_text)))
        if not grams:
            return {}
        hashed = (
            FeatureHasher(self.n_features, input_type="string", alternate_sign=False)
            .transform([[g] for g in grams])
            .tocsr()
        )
        return {
            int(hashed.indices[hashed.indptr[i]]): g
            for i, g in enumerate(grams)
            if hashed.indptr[i + 1] > hashed.indptr[i]
        }

    def transform(self, X) -> sp.csr_matrix:
        M = self._hasher().transform(list(X)).tocsr()
        M.data = (1 + np.log(M.data)) * self.idf_[M.indices]
        norms = np.sqrt(np.asarray(M.multiply(M).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.diags(1 / norms).astype(np.float32) @ M


def _in_validation(texts: pd.Series, fraction: float) -> np.ndarray:
    cut = int(fraction * 10_000)
    return np.array([zlib.crc32(t.encode("utf-8")) % 10_000 < cut for t in texts], dtype=bool)


class StreamingClassifier(MultiCategoryClassifier):
    """`fit_stream(chunks)`: `chunks()` returns a fresh iterable of canonical frames (a
    `text` column and one 1 / 0 / NaN column per category) each time it is called; it is
    called 2 + `epochs` times."""

    def __init__(  # noqa: PLR0913 - a scikit-learn estimator: each hyperparameter is an argument (get_params, clone)
        self,
        categories: list[str],
        n_features: int = 2**19,
        word_ngrams=(1, 2),
        char_ngrams=(1, 3),
        alpha: float = 1e-5,
        epochs: int = 2,
        validation_fraction: float = 0.1,
        min_positives: int = 10,
        threshold_rules: Mapping[str, ThresholdRule] | None = None,
        default_profile: str = DEFAULT_PROFILE,
        tokenizer: JiebaTokenizer | None = None,
        max_chars: int = 2000,
        deobfuscate: bool = True,
        phonetic: PhoneticMap | None = None,
        random_state: int = 0,
    ) -> None:
        self.categories = categories
        self.n_features = n_features
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.alpha = alpha
        self.epochs = epochs
        self.validation_fraction = validation_fraction
        self.min_positives = min_positives
        self.threshold_rules = threshold_rules
        self.default_profile = default_profile
        self.tokenizer = tokenizer
        self.max_chars = max_chars
        self.deobfuscate = deobfuscate
        self.phonetic = phonetic
        self.random_state = random_state

    def fit(self, X, Y):
        texts = list(X)
        frame = pd.DataFrame(np.asarray(Y, dtype=float), columns=list(self.categories))
        frame.insert(0, "text", texts)
        return self.fit_stream(lambda: [frame])

    def fit_stream(self, chunks: ChunkSource) -> StreamingClassifier:
        keys = list(self.categories)
        profiles = ProfileSet.of(self.threshold_rules, self.default_profile)
        normalizer = TextNormalizer(self.max_chars, deobfuscate=self.deobfuscate, phonetic=self.phonetic)
        word = HashedTfidf("word", self.word_ngrams, self.n_features, self.tokenizer or JiebaTokenizer())
        char = HashedTfidf("char", self.char_ngrams, self.n_features)

        # Pass 1: document frequencies and label counts (training rows only).
        counts = {k: np.zeros(2, dtype=np.int64) for k in keys}
        n_rows = 0
        for chunk in chunks():
            train = chunk[~_in_validation(chunk["text"], self.validation_fraction)]
            normalized = normalizer.transform(train["text"])
            word.count(normalized)
            char.count(normalized)
            n_rows += len(chunk)
            for k in keys:
                y = train[k].to_numpy(dtype=float)
                counts[k] += [int((y == 0).sum()), int((y == 1).sum())]
        if n_rows == 0:
            raise ValueError("the training stream is empty")
        word.finish()
        char.finish()
        self.vectorizer_ = Pipeline(
            [("normalize", normalizer), ("tfidf", FeatureUnion([("word", word), ("char", char)]))]
        )

        fits: dict[str, CategoryFit] = {}
        trainable = []
        for k in keys:
            n_neg, n_pos = map(int, counts[k])
            if min(n_pos, n_neg) < self.min_positives:
                fits[k] = too_few(k, n_pos, n_neg, self.min_positives)
            else:
                trainable.append(k)
        models = {
            k: SGDClassifier(loss="log_loss", alpha=self.alpha, average=True, random_state=self.random_state)
            for k in trainable
        }
        weights = {k: (counts[k].sum() / (2 * counts[k])).astype(float) for k in trainable}  # "balanced"
        rng = np.random.default_rng(self.random_state)

        # Passes 2 .. 1 + epochs: SGD on the training rows, shuffled within each chunk.
        for _ in range(self.epochs):
            for chunk in chunks():
                train = chunk[~_in_validation(chunk["text"], self.validation_fraction)]
                if train.empty:
                    continue
                train = train.iloc[rng.permutation(len(train))]
                X = self.vectorizer_.transform(train["text"]).tocsr()
                for k in trainable:
                    y = train[k].to_numpy(dtype=float)
                    known = ~np.isnan(y)
                    if known.any():
                        yk = y[known].astype(int)
                        models[k].partial_fit(X[known], yk, classes=[0, 1], sample_weight=weights[k][yk])

        # Last pass: held-out validation scores for calibration and operating points.
        K = len(keys)
        self.coef_ = np.zeros((2 * self.n_features, K), dtype=np.float32)
        self.intercept_ = np.zeros(K)
        for j, k in enumerate(keys):
            if k in models:
                self.coef_[:, j] = models[k].coef_.ravel()
                self.intercept_[j] = float(models[k].intercept_[0])
        decisions = {k: [] for k in trainable}
        labels = {k: [] for k in trainable}
        for chunk in chunks():
            held = chunk[_in_validation(chunk["text"], self.validation_fraction)]
            if held.empty:
                continue
            z = np.asarray(self.vectorizer_.transform(held["text"]) @ self.coef_) + self.intercept_
            for k in trainable:
                y = held[k].to_numpy(dtype=float)
                known = ~np.isnan(y)
                decisions[k].append(z[known, keys.index(k)])
                labels[k].append(y[known].astype(int))

        calibrated = {}
        for k in trainable:
            z = np.concatenate(decisions[k]) if decisions[k] else np.zeros(0)
            y = np.concatenate(labels[k]) if labels[k] else np.zeros(0, dtype=int)
            if min(int(y.sum()), int(len(y) - y.sum())) < 2:
                fits[k] = CategoryFit(
                    key=k,
                    trained=False,
                    n_known=int(counts[k].sum()),
                    n_positive=int(counts[k][1]),
                    reason=f"the validation slice holds {int(y.sum())} positive and {int(len(y) - y.sum())} negative rows (need 2 of each)",
                )
                self.coef_[:, keys.index(k)] = 0.0
                continue
            calibrated[k] = calibrate(k, y, z, profiles, n_known=int(counts[k].sum()), n_positive=int(counts[k][1]))
        self.categories_ = keys
        self._store_fits(profiles.rules, fits, calibrated)
        self._compiled = None  # hashed features: the sklearn path
        return self
