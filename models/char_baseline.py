"""The plain baseline every trending evaluation reports beside the model: character 1–3
gram TF-IDF and a logistic regression per category, fitted on the category's known rows
(in practice the labeled trending titles), with scikit-learn's defaults. Ten lines of
scikit-learn that a model has to beat to be worth its complexity."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from qinglang.features.normalize import as_text_list


class CharNgramBaseline:
    def __init__(self, categories: list[str], ngram_range: tuple[int, int] = (1, 3), C: float = 1.0) -> None:
        self.categories = list(categories)
        self.ngram_range = ngram_range
        self.C = C

    def fit(self, texts, Y: np.ndarray) -> CharNgramBaseline:
        """`Y`: (n, K) of 1 / 0 / NaN (unknown) in the order of `categories`; a category
        without both classes among its known rows stays unfitted (NaN scores)."""
        texts = as_text_list(texts)
        Y = np.asarray(Y, dtype="float64")
        self.vectorizer_ = TfidfVectorizer(analyzer="char", ngram_range=self.ngram_range, sublinear_tf=True)
        X = self.vectorizer_.fit_transform(texts)
        self.models_ = []
        for j in range(len(self.categories)):
            known = ~np.isnan(Y[:, j])
            y = Y[known, j].astype(int)
            fitted = None
            if 0 < y.sum() < len(y):
                fitted = LogisticRegression(C=self.C, max_iter=1000).fit(X[known], y)
            self.models_.append(fitted)
        return self

    def predict_proba(self, texts) -> np.ndarray:
        X = self.vectorizer_.transform(as_text_list(texts))
        out = np.full((X.shape[0], len(self.categories)), np.nan)
        for j, model in enumerate(self.models_):
            if model is not None:
                out[:, j] = model.predict_proba(X)[:, 1]
        return out
