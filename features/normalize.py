"""Text normalisation applied before any feature is computed, in training and serving alike.

Steps, in order, and why:
1. Truncate to `max_chars` characters: bounds the cost of a pathological input; the
   opening of a post carries its topic.
2. Unicode NFKC: full-width letters, digits and punctuation become half-width (ＡＢＣ１
   → ABC1), compatibility forms fold, so one word is not learned twice.
3. Lower-case: Latin-script insults and pinyin abbreviations (SB, Sb, sb) are one token.
4. URLs become ` xurl ` and @mentions ` xuser `: keeps the signal that a link or a mention
   is present without learning individual addresses or user names.
5. De-obfuscation (`deobfuscate=True`, the default; `features/evasion.py` has the details
   and `features/evasion.yaml` the curated table with the evidence for every entry):
   people who post abuse disguise it so that a filter's words and n-grams miss it, and
   undoing the common disguises lets one learned word cover them all:
   a. traditional → simplified characters (OpenCC's character map: 腦殘 → 脑残), and
      invisible zero-width / format characters deleted everywhere (傻<U+200B>逼 → 傻逼);
   b. separators between two Chinese characters, as a class (issue 19): in a run of
      anything but letters, digits and Chinese between two Chinese characters, clause
      punctuation (, 。 ! ? : ; quotes, brackets, # @ % &) always stays; soft punctuation
      (、 ~ — and ellipses) stays unless it splits a word: around single characters
      (傻~逼~吧) or inside a known word (恶、心); everything else goes: white space,
      symbols of every kind, other punctuation, combining and tone marks, the strokes 丶
      and 丨 (傻 逼, 傻*逼, 傻※逼, 傻丶逼, 傻̶逼 → 傻逼). Emoji there move to the end:
      傻😀逼 → 傻逼😀. On the clean corpora this changes 0 of 396k archive titles and 0.4%
      of COLD's comments (kaomoji, × censor marks, lists of single characters);
   c. well-known homophone spellings and slang → the word: 煞笔 → 傻逼, 卧槽 → 我操, 艹 →
      操, 尼玛 → 你妈 (not in 王尼玛), 辣鸡 → 垃圾 (not in 麻辣鸡) (`evasion.yaml`, and
      `slang.yaml` with the contexts each slang form is left alone in and its sources);
   d. pinyin initials, full pinyin and Latin slang of insults, as whole Latin tokens next
      to Chinese text only: 你就是个sb → 你就是个傻逼, nmsl → 你妈死了, 一群zz → 一群智障;
      'nb', 'sm' and English words are never touched ("nerf gun玩具" stays).
   A form goes into the table only if it (almost) never occurs in ordinary text (checked
   on the 396k trending-archive titles); ambiguous ones are listed there as not mapped.
   e. with a `PhoneticMap` (`features/phonetic.py`, built at training from an insult
      lexicon and stored in the model): the pinyin, homophone and mixed hanzi-pinyin
      spellings of every lexicon term (and of the tables' words) → the term (恶心: ex,
      exin, 饿新, 恶xin, e心 → 恶心; 去死: qu死), where ordinary text does not use the
      spelling, and soft punctuation inside a term removed (恶、心 → 恶心).
   Models pickled before this step existed load with `deobfuscate=False` and see exactly
   the text they were trained on. The rules themselves are code, not pickled: a model
   trained with `deobfuscate=True` before a rule changed (issue 19 added 5b's class, the
   slang and the mixed forms) sees the new rule at serving; retrain it.
6. A character repeated more than three times is cut to three (哈哈哈哈哈 → 哈哈哈,
   ！！！！ → !!!, after step 2): keeps the emphasis, bounds the variants.
7. White space runs become one space; leading and trailing space is removed.

Normalising a normalised text changes nothing (tested).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from qinglang.features.evasion import deobfuscate as _deobfuscate
from qinglang.features.phonetic import PhoneticMap

URL_TOKEN = " xurl "
MENTION_TOKEN = " xuser "
_URL = re.compile(
    r"(?:https?://|www\.)[^\s\u4e00-\u9fff，。！？、]+|\b[a-z0-9.-]+\.(?:com|cn|net|org)(?:/[^\s\u4e00-\u9fff]*)?", re.I
)
_MENTION = re.compile(r"@[^\s@:：,，。!！?？、]{1,30}")
_REPEAT = re.compile(r"(.)\1{3,}", re.S)
_SPACE = re.compile(r"\s+")


def normalize_text(
    text: str, max_chars: int = 2000, deobfuscate: bool = True, phonetic: PhoneticMap | None = None
) -> str:
    """Steps 1-7 above; `deobfuscate=False` skips step 5 (what models trained before it
    existed were fitted with), `phonetic` adds step 5e."""
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFKC", text[:max_chars]).lower()
    text = _URL.sub(URL_TOKEN, text)
    text = _MENTION.sub(MENTION_TOKEN, text)
    if deobfuscate:
        text = _deobfuscate(text)
        if phonetic is not None:
            text = phonetic.rewrite(text)
        if "@" in text:  # a removed separator can join @ to a name: "@ 某人" → "@某人"
            text = _MENTION.sub(MENTION_TOKEN, text)
    text = _REPEAT.sub(r"\1\1\1", text)
    return _SPACE.sub(" ", text).strip()


def has_content(text: str) -> bool:
    """Whether a text has anything to judge: a letter, a digit or a symbol (emoji
    included). Spaces, invisible and control characters (U+200B, U+3000, NUL ...) and
    punctuation alone are content-free: a model scores them as nothing, never flags them."""
    return any(unicodedata.category(ch)[0] in "LNS" for ch in text)


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
    """The normalisation above as a pipeline step (stateless).

    Trained models pickle this object, with its `phonetic` map. One pickled before
    `deobfuscate` existed has no such attribute: it is read back as False, so an old model
    keeps seeing the text it was trained on."""

    def __init__(self, max_chars: int = 2000, deobfuscate: bool = True, phonetic: PhoneticMap | None = None) -> None:
        self.max_chars = max_chars
        self.deobfuscate = deobfuscate
        self.phonetic = phonetic

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state.setdefault("deobfuscate", False)
        state.setdefault("phonetic", None)
        super().__setstate__(state)

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> list[str]:
        deobfuscate, phonetic = getattr(self, "deobfuscate", False), getattr(self, "phonetic", None)
        return [normalize_text(t, self.max_chars, deobfuscate, phonetic) for t in as_text_list(X)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
