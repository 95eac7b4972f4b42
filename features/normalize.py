"""Text normalisation applied before any feature is computed, in training and serving alike.

Steps, in order, and why:
1. Truncate to `max_chars` characters: bounds the cost of a pathological input; the
   opening of a post carries its topic.
2. Unicode NFKC: full-width letters, digits and punctuation become half-width (ＡＢＣ１
   → ABC1), compatibility forms fold, so one word is not learned twice.
3. Lower-case: Latin-script insults and pinyin abbreviations (SB, Sb, sb) are one token.
4. URLs become ` xurl ` and @mentions ` xuser `: keeps the signal that a link or a mention
   is present without learning individual addresses or user names.
5. A character repeated more than three times is cut to three (哈哈哈哈哈 → 哈哈哈,
   ！！！！ → !!!, after step 2): keeps the emphasis, bounds the variants.
6. White space runs become one space; leading and trailing space is removed.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

URL_TOKEN = " xurl "
MENTION_TOKEN = " xuser "
_URL = re.compile(r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？、]+|\b[a-z0-9.-]+\.(?:com|cn|net|org)(?:/[^\s\u4e00-\u9fff]*)?", re.I)
_MENTION = re.compile(r"@[^\s@:：,，。!！?？、]{1,30}")
_REPEAT = re.compile(r"(.)\1{3,}", re.S)
_SPACE = re.compile(r"\s+")


def normalize_text(text: str, max_chars: int = 2000) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text[:max_chars]).lower()
    text = _URL.sub(URL_TOKEN, text)
    text = _MENTION.sub(MENTION_TOKEN, text)
    text = _REPEAT.sub(r"\1\1\1", text)
    return _SPACE.sub(" ", text).strip()


def as_text_list(X: object) -> list[str]:
    """Accept a list, tuple, array or Series of strings. A DataFrame is refused: sklearn's
    vectorizers iterate over its column names and silently return one row."""
    if isinstance(X, pd.DataFrame):
        raise TypeError("pass the text column (a Series or list of str), not a DataFrame")
    if isinstance(X, str):
        raise TypeError("pass a list of texts, not a single str")
    if isinstance(X, (pd.Series, np.ndarray)):
        X = X.tolist()
    texts = list(X) if isinstance(X, Iterable) else None
    if texts is None:
        raise TypeError(f"expected a sequence of str, got {type(X).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text #{i} is {type(t).__name__}, not str")
    return texts


class TextNormalizer(TransformerMixin, BaseEstimator):
    """The normalisation above as a pipeline step (stateless)."""

    def __init__(self, max_chars: int = 2000) -> None:
        self.max_chars = max_chars

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> list[str]:
        return [normalize_text(t, self.max_chars) for t in as_text_list(X)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
