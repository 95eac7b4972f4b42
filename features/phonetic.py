"""Pinyin and homophone spellings of lexicon terms, mapped back to the term.

The curated table (`evasion.yaml`) holds the established spellings of the commonest
insults. People disguise any word of an insult lexicon in the same two ways: they type its
pinyin (恶心 → exin, ex) or pick other characters with the same sound (恶心 → 饿新).
`PhoneticMap.build` derives both kinds of form for every term of a lexicon at training
time and keeps only the forms that ordinary text does not use:

- Latin forms, the initials and the joined toneless pinyin of a term (two letters or
  more). Dropped when they occur as a whole token in more than `max_ordinary_hits` of the
  ordinary texts (the unlabeled trending archive), or when the curated table lists them
  under `not_mapped`; the curated table wins where both have a form. Matched like the
  curated forms: whole Latin tokens next to Chinese text only.
- Homophone forms: a run of Chinese characters whose toneless pinyin equals a term's (by
  each character's commonest reading, or by the term's phrase reading) but which is not
  the term. Where several terms sound alike, the form becomes the one most frequent in
  jieba's dictionary. Left alone when the run is a jieba dictionary word (努力 sounds like 奴隶), when
  it occurs in the ordinary texts, or when a character at its edge makes a dictionary word
  with the character outside (去四川 keeps 去四: 四川 is a word).

- Mixed hanzi-pinyin forms (issue 19): a term with some of its characters, a contiguous
  run that is not the whole term, written as their toneless pinyin, joined (恶心 → 恶xin,
  exin's halves; 去死 → qu死; 黑鬼 → 黑gui; 死全家 → 死quanjia). Built for the lexicon's
  terms and for the words the curated tables know (`evasion.yaml`, `slang.yaml`,
  including its `words`: 去死 and 黑鬼 are in no lexicon of ours). Matched where a whole
  Latin token (no letter or digit touching it) has the term's Chinese parts right next to
  it, spaces allowed between; dropped when a form occurs in more than
  `max_ordinary_hits` of the ordinary texts.
- Soft punctuation (、 ~ — ...; `evasion.py`, step 2) is removed where one of the map's
  terms runs across it (恶、心), as the curated step does for the tables' words.

The map is plain data (dicts, sets and regex patterns) pickled inside the model, so
serving needs neither pypinyin nor the lexicon files. A map pickled before the mixed
forms existed loads without them (and joins its own terms). It covers the lexicon's terms only:
an insult no lexicon lists is not recovered from its pinyin (the robustness benchmark
reports how much of the lexicon this reaches, and the curated table's reach beyond it).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from qinglang.features.evasion import JoinIndex, deobfuscate, join_words, latin_patterns, map_latin, table

# Each toneless syllable is written as one private-use character, so a text's pinyin is a
# string as long as the text and a run of syllables lines up with a run of characters.
_SYLLABLE_BASE = 0xE000
_PRIVATE_USE = range(0xE000, 0xF900)
_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF))
_ALL_CJK = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
_LATIN_TOKEN = re.compile(r"(?<![a-z0-9])[a-z]+(?![a-z0-9])")
_LATIN_LETTER = re.compile(r"[a-z]")
_MAX_ROUNDS = 4


class PhoneticMap:
    """See the module docstring. `rewrite(text)` expects text the curated de-obfuscation
    has already run on, and returns it with the forms replaced by their terms."""

    def __init__(
        self,
        latin: Mapping[str, str],
        keys: Mapping[str, str],
        syllables: Mapping[int, str],
        protected: Iterable[str],
        edge_words: Iterable[str],
        mixed: Mapping[str, Iterable[tuple[str, str, str]]] | None = None,
    ) -> None:
        self.latin = dict(latin)
        self.keys = dict(keys)
        self.syllables = dict(syllables)
        self.protected = frozenset(protected)
        self.edge_words = frozenset(edge_words)
        self.prefixes = frozenset(k[:2] for k in self.keys)
        self.lengths = tuple(sorted({len(k) for k in self.keys}, reverse=True))
        self.latin_pattern, self.latin_quick = latin_patterns(self.latin)
        # Latin token → (Chinese before it, Chinese after it, term), the longest context first.
        self.mixed = {
            token: tuple(sorted(forms, key=lambda f: (-len(f[0]) - len(f[1]), f)))
            for token, forms in (mixed or {}).items()
        }
        self.join_index = JoinIndex(self.terms | {term for forms in self.mixed.values() for _, _, term in forms})

    def __setstate__(self, state: dict) -> None:
        """A map pickled before the mixed forms existed: none, and a join index of its terms."""
        self.__dict__.update(state)
        if "mixed" not in state:
            self.mixed = {}
        if "join_index" not in state:
            self.join_index = JoinIndex(self.terms)

    def same_as(self, other: object) -> bool:
        """Whether `other` is a map with the same forms (by value: two equal maps can pickle
        differently, as frozensets keep no order). Not `__eq__`, so maps stay hashable."""
        fields = ("latin", "keys", "syllables", "protected", "edge_words", "mixed")
        return type(other) is type(self) and all(getattr(self, f) == getattr(other, f) for f in fields)

    @property
    def terms(self) -> frozenset[str]:
        return frozenset(self.keys.values()) | frozenset(self.latin.values())

    def describe(self) -> dict:
        """The map in readable form: Latin forms, the terms homophones restore, the mixed
        hanzi-pinyin forms, and the ordinary runs that sound like a term but are left alone."""
        return {
            "latin": dict(sorted(self.latin.items())),
            "homophone_terms": sorted(set(self.keys.values())),
            "mixed": sorted(
                f"{left}{token}{right} → {term}" for token, forms in self.mixed.items() for left, right, term in forms
            ),
            "protected": sorted(self.protected),
        }

    def mixed_runs(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, term, form) of every mixed hanzi-pinyin form in `text`, left to right,
        without overlaps: a whole Latin token with the term's other characters right before
        and after it (spaces between allowed)."""
        if not self.mixed or not _LATIN_LETTER.search(text):
            return []
        found, taken = [], 0
        for m in _LATIN_TOKEN.finditer(text):
            forms = self.mixed.get(m.group())
            if not forms:
                continue
            before, after = m.start(), m.end()
            while before > taken and text[before - 1] == " ":
                before -= 1
            while after < len(text) and text[after] == " ":
                after += 1
            for left, right, term in forms:
                start = (before - len(left)) if left else m.start()
                end = (after + len(right)) if right else m.end()
                if start < taken or not text.startswith(left, start) or not text.startswith(right, after):
                    continue
                found.append((start, end, term, f"{left}{m.group()}{right}"))
                taken = end
                break
        return found

    def homophone_runs(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, term) of every run that sounds like a term, is not the term and is
        not protected, leftmost and longest first, without overlaps."""
        spoken = text.translate(self.syllables)
        prefixes = self.prefixes
        starts = [i for i in range(len(spoken) - 1) if spoken[i : i + 2] in prefixes]
        found, taken = [], 0
        for i in starts:
            if i < taken:
                continue
            for n in self.lengths:
                term = self.keys.get(spoken[i : i + n]) if i + n <= len(spoken) else None
                if term is None:
                    continue
                run = text[i : i + n]
                if run == term:
                    taken = i + n
                    break
                if run in self.protected or self._joined_to_neighbours(text, i, i + n):
                    continue
                found.append((i, i + n, term))
                taken = i + n
                break
        return found

    def _joined_to_neighbours(self, text: str, start: int, end: int) -> bool:
        words = self.edge_words
        return (start > 0 and text[start - 1 : start + 1] in words) or (
            end < len(text) and text[end - 1 : end + 1] in words
        )

    def _rewrite_once(self, text: str) -> str:
        text = join_words(text, self.join_index)
        mixed = self.mixed_runs(text)
        if mixed:
            parts, last = [], 0
            for start, end, term, _ in mixed:
                parts += [text[last:start], term]
                last = end
            text = "".join(parts) + text[last:]
        runs = self.homophone_runs(text)
        if runs:
            parts, last = [], 0
            for start, end, term in runs:
                parts += [text[last:start], term]
                last = end
            text = "".join(parts) + text[last:]
        if self.latin and self.latin_quick.search(text):
            text = map_latin(text, self.latin_pattern, self.latin, frozenset())
        return text

    def rewrite(self, text: str) -> str:
        # A replaced form can leave separators between two Chinese characters ("你 ex 了")
        # or make a neighbour eligible: run the curated step and this one until stable, so
        # that normalising twice gives the same text.
        for _ in range(_MAX_ROUNDS):
            new = self._rewrite_once(text)
            if new == text:
                return text
            text = deobfuscate(new)
        return text

    @classmethod
    def build(
        cls,
        terms: Iterable[str],
        ordinary: Iterable[str],
        dictionary: Mapping[str, int],
        normalize,
        max_ordinary_hits: int = 2,
    ) -> PhoneticMap:
        """`terms`: the lexicon; `ordinary`: texts of ordinary use (already normalised);
        `dictionary`: jieba's word → frequency; `normalize`: the text normalisation the
        terms go through first (so a term is in the form the map will meet). Needs pypinyin."""
        from pypinyin import Style, lazy_pinyin

        syllable_of: dict[str, str] = {}
        for lo, hi in _CJK_RANGES:
            for cp in range(lo, hi + 1):
                reading = lazy_pinyin(chr(cp), style=Style.NORMAL, errors="ignore")
                if reading and reading[0].isascii() and reading[0].isalpha():
                    syllable_of[chr(cp)] = reading[0]
        ids = {s: chr(_SYLLABLE_BASE + k) for k, s in enumerate(sorted(set(syllable_of.values())))}
        translation = {cp: "\ufffd" for cp in _PRIVATE_USE}  # private-use input never matches
        translation.update({ord(c): ids[s] for c, s in syllable_of.items()})

        # Where several terms share a form (the lexicon lists 母狗, 亩狗 and 木勾), the form
        # stands for the most frequent word in the dictionary: the spelling the model has
        # seen most, so its weight is the best-learned one.
        clean = sorted(
            {t for t in (normalize(term) for term in terms) if len(t) >= 2 and _ALL_CJK.match(t)},
            key=lambda t: (-dictionary.get(t, 0), t),
        )
        keys: dict[str, str] = {}
        latin: dict[str, str] = {}
        for term in clean:
            phrase = lazy_pinyin(term, style=Style.NORMAL, errors="ignore")
            char_by_char = [syllable_of.get(c, "") for c in term]
            for reading in (char_by_char, phrase):
                if len(reading) == len(term) and all(r in ids for r in reading):
                    keys.setdefault("".join(ids[r] for r in reading), term)
            initials = "".join(lazy_pinyin(term, style=Style.FIRST_LETTER, errors="ignore"))
            for form in ("".join(phrase), "".join(char_by_char), initials):
                if len(form) >= 2 and form.isascii() and form.isalpha():
                    latin.setdefault(form, term)

        curated = table()
        token_hits = Counter()
        ordinary = list(ordinary)
        for text in ordinary:
            token_hits.update(set(_LATIN_TOKEN.findall(text)))
        latin = {
            form: term
            for form, term in latin.items()
            if form not in curated.latin and form not in curated.not_mapped and token_hits[form] <= max_ordinary_hits
        }

        # The tables' words first: where a lexicon spelling (黑硅, 嘿鬼) and a table word (黑鬼)
        # give the same form (黑gui), the form stands for the word people write plainly.
        words = {t for t in (normalize(w) for w in curated.known_words()) if len(t) >= 2 and _ALL_CJK.match(t)}
        by_frequency = sorted(words, key=lambda t: (-dictionary.get(t, 0), t)) + [t for t in clean if t not in words]
        mixed = cls._mixed_forms(by_frequency, syllable_of, lazy_pinyin, Style)
        probe = cls({}, {}, {}, (), (), mixed)
        form_hits = Counter(form for text in ordinary for *_, form in probe.mixed_runs(text))
        mixed = {
            token: [
                (left, right, term)
                for left, right, term in forms
                if form_hits[f"{left}{token}{right}"] <= max_ordinary_hits
            ]
            for token, forms in mixed.items()
        }
        mixed = {token: forms for token, forms in mixed.items() if forms}

        first = {k[0] for k in keys}
        last = {k[-1] for k in keys}
        protected, edge_words = set(), set()
        for word, freq in dictionary.items():
            if freq <= 0 or not _ALL_CJK.match(word):
                continue
            spoken = word.translate(translation)
            if keys.get(spoken, word) != word:
                protected.add(word)
            if len(word) == 2 and (spoken[1] in first or spoken[0] in last):
                edge_words.add(word)
        mapped = cls(latin, keys, translation, protected, edge_words, mixed)
        for text in ordinary:
            protected.update(text[s:e] for s, e, _ in mapped.homophone_runs(text))
        mapped.protected = frozenset(protected)
        return mapped

    @staticmethod
    def _mixed_forms(terms: list[str], syllable_of: Mapping[str, str], lazy_pinyin, style) -> dict[str, list]:
        """Latin token → [(Chinese before, Chinese after, term)]: every contiguous run of a
        term's characters but the whole term, written as its joined toneless pinyin (by the
        term's phrase reading and by each character's commonest). `terms` come most
        in order of preference: where two terms give the same form, the first keeps it."""
        seen: set[tuple[str, str, str]] = set()
        mixed: dict[str, list[tuple[str, str, str]]] = {}
        for term in terms:
            if len(term) < 2 or not _ALL_CJK.match(term):
                continue
            phrase = lazy_pinyin(term, style=style.NORMAL, errors="ignore")
            for reading in (phrase, [syllable_of.get(c, "") for c in term]):
                if len(reading) != len(term) or not all(r.isascii() and r.isalpha() for r in reading):
                    continue
                for i in range(len(term)):
                    for j in range(i + 1, len(term) + 1):
                        if j - i == len(term):
                            continue
                        token, left, right = "".join(reading[i:j]), term[:i], term[j:]
                        if (left, token, right) not in seen:
                            seen.add((left, token, right))
                            mixed.setdefault(token, []).append((left, right, term))
        return mixed
