"""New-word discovery on unlabeled text, for the jieba user dictionary.

jieba's dictionary predates most names and slang on a trending list (明星 names, show
titles, memes), so it cuts them into single characters and the word features lose them.
A string is kept as a word when it is frequent, its characters stick together far more
often than chance (pointwise mutual information at its weakest split), and it is free at
both ends (the entropy of its left and right neighbours is high: a real word appears in
many contexts, a fragment of a longer word always has the same neighbour). This is the
classic unsupervised recipe (Sproat & Shih 1990; boundary entropy, Jin & Tanaka-Ishii
2006) and needs no labels, so it can use the whole unlabeled archive.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import count as counter

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
# Function characters that glue onto names in titles (有多, 岁女, 的原因, 日新增, 例确诊): a
# candidate starting or ending with one is a fragment, not a word.
FUNCTION_EDGES = frozenset("的了是有都在和与就也被把个岁日月例这那能才最之")


def _entropy(counts: Counter) -> float:
    total = sum(counts.values())
    return -sum(c / total * math.log(c / total) for c in counts.values())


@dataclass(frozen=True)
class MiningSettings:
    """The tests above: length in Han characters, minimum count (in distinct texts), PMI and
    neighbour entropy, the cap on words returned, and characters a word may not start or end with."""

    min_len: int = 2
    max_len: int = 4
    min_count: int = 20
    min_pmi: float = 3.0
    min_entropy: float = 1.5
    max_words: int = 20_000
    bad_edges: frozenset[str] = FUNCTION_EDGES


def mine_new_words(
    texts: Iterable[str], known: set[str] | frozenset[str] = frozenset(), settings: MiningSettings = MiningSettings()
) -> list[tuple[str, int]]:
    """(word, count) for strings of `min_len`..`max_len` Han characters passing the tests
    above and not in `known`, most frequent first; counts are in distinct texts, so a
    title repeated on many days counts once. Each text edge counts as a distinct neighbour."""
    min_len, max_len, min_count = settings.min_len, settings.max_len, settings.min_count
    min_pmi, min_entropy, bad_edges = settings.min_pmi, settings.min_entropy, settings.bad_edges
    counts: Counter = Counter()
    chars: Counter = Counter()
    left: dict[str, Counter] = defaultdict(Counter)
    right: dict[str, Counter] = defaultdict(Counter)
    total_chars = 0
    unique = list(dict.fromkeys(texts))
    for text in unique:
        for run in _CJK_RUN.findall(text):
            total_chars += len(run)
            chars.update(run)
            for n in range(min_len, max_len + 1):
                for i in range(len(run) - n + 1):
                    counts[run[i : i + n]] += 1
    candidates = {
        w: c
        for w, c in counts.items()
        if c >= min_count and w not in known and w[0] not in bad_edges and w[-1] not in bad_edges
    }
    edges = counter()  # each text edge is a neighbour of its own
    for text in unique:
        for run in _CJK_RUN.findall(text):
            for n in range(min_len, max_len + 1):
                for i in range(len(run) - n + 1):
                    w = run[i : i + n]
                    if w in candidates:
                        left[w][run[i - 1] if i else next(edges)] += 1
                        right[w][run[i + n] if i + n < len(run) else next(edges)] += 1

    def frequency(s: str) -> float:
        return (chars[s] if len(s) == 1 else counts.get(s, 0)) / total_chars

    kept = []
    for word, count in candidates.items():
        p = count / total_chars
        pmi = min(math.log(p / (frequency(word[:k]) * frequency(word[k:]))) for k in range(1, len(word)))
        if pmi < min_pmi:
            continue
        if min(_entropy(left[word]), _entropy(right[word])) < min_entropy:
            continue
        kept.append((word, count))
    kept.sort(key=lambda wc: (-wc[1], wc[0]))
    return kept[: settings.max_words]
