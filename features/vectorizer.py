"""TF-IDF over jieba word n-grams joined with character n-grams.

Words carry meaning jieba can segment; character n-grams catch what it cannot (slang,
new names, insults split by odd segmentation, deliberate misspellings)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from qinglang.features.normalize import TextNormalizer
from qinglang.features.phonetic import PhoneticMap
from qinglang.features.tokenizer import JiebaTokenizer


@dataclass(frozen=True)
class FeatureSettings:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    min_df: int = 2
    max_word_features: int | None = 200_000
    max_char_features: int | None = 300_000
    sublinear_tf: bool = True
    max_chars: int = 2000
    deobfuscate: bool = True  # normalisation step 5 (features/normalize.py)


def build_vectorizer(
    settings: FeatureSettings, tokenizer: JiebaTokenizer, phonetic: PhoneticMap | None = None
) -> Pipeline:
    """`phonetic`: the lexicon's pinyin and homophone spellings, undone in normalisation."""
    common = dict(min_df=settings.min_df, sublinear_tf=settings.sublinear_tf, lowercase=False, dtype=np.float32)
    word = TfidfVectorizer(
        tokenizer=tokenizer,
        token_pattern=None,
        ngram_range=tuple(settings.word_ngrams),
        max_features=settings.max_word_features,
        **common,
    )
    char = TfidfVectorizer(
        analyzer="char",
        ngram_range=tuple(settings.char_ngrams),
        max_features=settings.max_char_features,
        **common,
    )
    return Pipeline(
        [
            ("normalize", TextNormalizer(settings.max_chars, deobfuscate=settings.deobfuscate, phonetic=phonetic)),
            ("tfidf", FeatureUnion([("word", word), ("char", char)])),
        ]
    )
