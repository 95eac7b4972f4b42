"""Why a linear model scored a text as it did: each feature's contribution is its TF-IDF
value times the category's coefficient, so the words and character n-grams that pushed a
score up (or down) can be listed exactly, with no surrogate model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qinglang.features.normalize import as_text_list
from qinglang.models.multilabel import MultiCategoryClassifier


@dataclass(frozen=True)
class Driver:
    feature: str
    kind: str  # "word" or "char"
    contribution: float

    def __str__(self) -> str:
        """`超越[w]+0.52`: w = jieba word n-gram, c = character n-gram (the same string can be both)."""
        return f"{self.feature}[{self.kind[0]}]{self.contribution:+.2f}"


def feature_names(classifier: MultiCategoryClassifier) -> np.ndarray:
    """Names like `word__傻逼` / `char__傻逼`, in coefficient order (cached on first use)."""
    names = getattr(classifier, "_feature_names", None)
    if names is None:
        names = classifier.vectorizer_.named_steps["tfidf"].get_feature_names_out()
        classifier._feature_names = names
    return names


def drivers(classifier: MultiCategoryClassifier, texts, category: str, k: int = 5, sign: int = 1) -> list[list[Driver]]:
    """Per text, the `k` features that raised (`sign=1`) or lowered (`sign=-1`) the
    category's score the most."""
    if sign not in (1, -1):
        raise ValueError("sign must be 1 or -1")
    j = classifier.categories_.index(category)
    texts = as_text_list(texts)
    hashed = _hashed_blocks(classifier)
    names = feature_names(classifier) if hashed is None else None
    X = classifier.transform(texts)
    out = []
    for i in range(X.shape[0]):
        cols = X.indices[X.indptr[i] : X.indptr[i + 1]]
        contrib = X.data[X.indptr[i] : X.indptr[i + 1]] * classifier.coef_[cols, j] * sign
        order = np.argsort(-contrib)[:k]
        name_of = names.__getitem__ if hashed is None else _text_names(classifier, hashed, texts[i]).get
        out.append(
            [
                Driver(*_split(name_of(int(cols[o])) or "hash__?"), float(contrib[o] * sign))
                for o in order
                if contrib[o] > 0
            ]
        )
    return out


def _split(name: str) -> tuple[str, str]:
    kind, feature = name.split("__", 1)
    return feature, kind


def _hashed_blocks(classifier: MultiCategoryClassifier) -> list | None:
    """The feature blocks of a hashed model (qinglang.models.streaming), else None."""
    blocks = classifier.vectorizer_.named_steps["tfidf"].transformer_list
    return blocks if all(hasattr(t, "feature_names_for") for _, t in blocks) else None


def _text_names(classifier: MultiCategoryClassifier, blocks: list, text: str) -> dict[int, str]:
    normalized = classifier.vectorizer_.named_steps["normalize"].transform([text])[0]
    names, offset = {}, 0
    for kind, block in blocks:
        names.update({offset + col: f"{kind}__{gram}" for col, gram in block.feature_names_for(normalized).items()})
        offset += block.n_features
    return names
