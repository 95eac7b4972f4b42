"""jieba word segmentation that pickles, initialises once per process and carries its
user dictionary inside the model.

`jieba.lcut` cannot be pickled (its tokenizer holds a lock), so the model stores only
this small object's settings; the jieba tokenizer itself is rebuilt on first use in each
process and shared by every copy with the same settings. Call `warm_up()` before server
workers fork so the dictionary is loaded once.

Segmentation with the HMM (how every model is trained) runs `_Segmenter`, jieba's precise
mode re-implemented without its generators, per-character dict of lists and per-step
tuples: on trending titles it is 1.5-2 times as fast as `jieba.Tokenizer.cut`, which was
the largest single cost of scoring. Its output must be jieba's, token for token, or a
served model would see other features than it was trained on: the unit tests compare
the two on hard cases and `benchmarks/bench_inprocess.py --check-jieba` on every archive
title (0 differences on the archive and every corpus, raw and normalised, when written).
It follows jieba 0.42.1's code; with another jieba version, or without the HMM, jieba's
own `cut` runs."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterable
from math import log
from pathlib import Path

with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    import jieba
    from jieba import finalseg

from qinglang.data.errors import DataError

jieba.setLogLevel(logging.WARNING)

_ONLY_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)
_lock = threading.Lock()
_instances: dict[tuple, jieba.Tokenizer] = {}
_segmenters: dict[tuple, _Segmenter] = {}


def jieba_cache_dir() -> str:
    """Where jieba keeps its dictionary cache: QINGLANG_JIEBA_CACHE_DIR, else a folder only
    this user can write ($XDG_CACHE_HOME/qinglang, default ~/.cache/qinglang, mode 0700),
    never the shared temp dir, where another user could plant a cache that jieba would load.
    Where the home folder is not writable: a private temp folder (the cache is rebuilt, ~1 s)."""
    configured = os.environ.get("QINGLANG_JIEBA_CACHE_DIR")
    if configured:
        return configured
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "qinglang"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        if base.stat().st_uid == os.getuid() and os.access(base, os.W_OK):
            return str(base)
    except OSError:
        pass
    return _private_temp_dir()


def _private_temp_dir() -> str:
    global _PRIVATE_TMP
    if _PRIVATE_TMP is None:
        _PRIVATE_TMP = tempfile.mkdtemp(prefix="qinglang-jieba-")  # mode 0700
    return _PRIVATE_TMP


_PRIVATE_TMP: str | None = None


def read_user_dict(path: str | Path) -> tuple[tuple[str, int | None, str | None], ...]:
    """Parse a jieba user dictionary: one `word [freq] [tag]` per line."""
    path = Path(path)
    if not path.is_file():
        raise DataError("user dictionary not found", file=str(path))
    entries = []
    for lineno, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        parts = line.strip().split()
        if not parts:
            continue
        freq = None
        if len(parts) > 1:
            if not parts[1].isdigit():
                raise DataError(f"frequency {parts[1]!r} is not a whole number", file=str(path), row=lineno)
            freq = int(parts[1])
        entries.append((parts[0], freq, parts[2] if len(parts) > 2 else None))
    return tuple(entries)


class JiebaTokenizer:
    """Callable text → word list; drops tokens that are only punctuation or space."""

    def __init__(self, user_words: Iterable[tuple[str, int | None, str | None]] = (), hmm: bool = True) -> None:
        self.user_words = tuple(tuple(w) for w in user_words)
        self.hmm = hmm

    @classmethod
    def from_user_dict(cls, path: str | Path | None, hmm: bool = True) -> JiebaTokenizer:
        return cls(read_user_dict(path) if path else (), hmm=hmm)

    def _key(self) -> tuple:
        return self.user_words

    def _jieba(self) -> jieba.Tokenizer:
        key = self._key()
        tk = _instances.get(key)
        if tk is None:
            with _lock:
                tk = _instances.get(key)
                if tk is None:
                    tk = jieba.Tokenizer()
                    tk.tmp_dir = jieba_cache_dir()
                    tk.initialize()
                    for word, freq, tag in self.user_words:
                        tk.add_word(word, freq, tag)
                    _instances[key] = tk
        return tk

    def dictionary_words(self) -> frozenset[str]:
        """Words jieba's dictionary (with the user words) already holds."""
        return frozenset(self.dictionary_frequencies())

    def dictionary_frequencies(self) -> dict[str, int]:
        """Those words with their counts in jieba's dictionary."""
        return {w: f for w, f in self._jieba().FREQ.items() if f > 0}

    def warm_up(self) -> JiebaTokenizer:
        self._jieba()
        return self

    def __call__(self, text: str) -> list[str]:
        if self.hmm and _SEGMENTER_MATCHES_JIEBA:
            segmenter = _segmenters.get(self._key())
            if segmenter is None:
                segmenter = _segmenters.setdefault(self._key(), _Segmenter(self._jieba()))
            return segmenter.words(text)
        return [t for t in self._jieba().cut(text, HMM=self.hmm) if not _ONLY_PUNCT.match(t)]

    def __getstate__(self) -> dict:
        return {"user_words": self.user_words, "hmm": self.hmm}

    def __setstate__(self, state: dict) -> None:
        self.user_words = tuple(tuple(w) for w in state["user_words"])
        self.hmm = state["hmm"]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JiebaTokenizer) and self.__getstate__() == other.__getstate__()

    def __hash__(self) -> int:
        return hash((self.user_words, self.hmm))

    def __repr__(self) -> str:
        return f"JiebaTokenizer(user_words={len(self.user_words)}, hmm={self.hmm})"


# jieba's own patterns and HMM tables (jieba/__init__.py, jieba/finalseg): the segmenter
# below must split text exactly where jieba does.
_HAN = jieba.re_han_default  # runs that get dictionary + HMM segmentation
_FINAL_HAN = finalseg.re_han  # Chinese runs inside an unknown stretch: the HMM's input
_FINAL_SKIP = finalseg.re_skip  # Latin / digit runs inside an unknown stretch
_MIN_FLOAT = finalseg.MIN_FLOAT
_START = finalseg.start_P
_TRANS = finalseg.trans_P
_EMIT = finalseg.emit_P
_PUNCT_IN_HAN = frozenset("+#&._%-")  # the only non-word characters `_HAN` runs hold
_CACHE_MAX = 20_000
_SEGMENTER_MATCHES_JIEBA = getattr(jieba, "__version__", None) == "0.42.1"  # the code `_Segmenter` follows
_NEG_INF = float("-inf")


def _trans(a: str, b: str) -> float:
    return _TRANS[a].get(b, _MIN_FLOAT)


_T_EB, _T_SB, _T_MM, _T_BM = _trans("E", "B"), _trans("S", "B"), _trans("M", "M"), _trans("B", "M")
_T_SS, _T_ES, _T_BE, _T_ME = _trans("S", "S"), _trans("E", "S"), _trans("B", "E"), _trans("M", "E")
_EMIT_B, _EMIT_M, _EMIT_S, _EMIT_E = _EMIT["B"], _EMIT["M"], _EMIT["S"], _EMIT["E"]


def _viterbi_words(run: str) -> list[str]:
    """`finalseg.__cut(run)`: jieba's BMES Viterbi over a run of Chinese characters, with its
    arithmetic ((previous + transition) + emission) and its tie-breaking (the
    `max((prob, state))` of jieba prefers the later state letter on equal probabilities)."""
    mf = _MIN_FLOAT
    ch = run[0]
    v_b = _START["B"] + _EMIT_B.get(ch, mf)
    v_m = _START["M"] + _EMIT_M.get(ch, mf)
    v_s = _START["S"] + _EMIT_S.get(ch, mf)
    v_e = _START["E"] + _EMIT_E.get(ch, mf)
    back = []  # per position after the first: the previous state chosen for B, M, S, E
    for ch in run[1:]:
        e_b, e_m, e_s, e_e = _EMIT_B.get(ch, mf), _EMIT_M.get(ch, mf), _EMIT_S.get(ch, mf), _EMIT_E.get(ch, mf)
        p1, p2 = v_e + _T_EB + e_b, v_s + _T_SB + e_b  # B from E or S
        n_b, f_b = (p1, "E") if p1 > p2 else (p2, "S")
        p1, p2 = v_m + _T_MM + e_m, v_b + _T_BM + e_m  # M from M or B
        n_m, f_m = (p2, "B") if p2 > p1 else (p1, "M")
        p1, p2 = v_s + _T_SS + e_s, v_e + _T_ES + e_s  # S from S or E
        n_s, f_s = (p2, "E") if p2 > p1 else (p1, "S")
        p1, p2 = v_b + _T_BE + e_e, v_m + _T_ME + e_e  # E from B or M
        n_e, f_e = (p1, "B") if p1 > p2 else (p2, "M")
        back.append((f_b, f_m, f_s, f_e))
        v_b, v_m, v_s, v_e = n_b, n_m, n_s, n_e
    state = "E" if v_e > v_s else "S"
    states = [state]
    slot = "BMSE"
    for step in reversed(back):
        state = step[slot.index(state)]
        states.append(state)
    states.reverse()
    words, begin, nexti = [], 0, 0
    for i, pos in enumerate(states):
        if pos == "B":
            begin = i
        elif pos == "E":
            words.append(run[begin : i + 1])
            nexti = i + 1
        elif pos == "S":
            words.append(run[i])
            nexti = i + 1
    if nexti < len(run):
        words.append(run[nexti:])
    return words


class _Segmenter:
    """`[t for t in tokenizer.cut(text, HMM=True) if not _ONLY_PUNCT.match(t)]` for one
    initialised jieba tokenizer, faster (see the module docstring). Reads the tokenizer's
    FREQ and total on every call, and jieba's global force-split words, as jieba does.

    Keeps one small cache: the HMM's segmentation of unknown stretches (names and new
    words, which recur across texts), a pure function of the stretch; cleared when it
    reaches `_CACHE_MAX` entries (a few MB). Caching whole runs was tried: on distinct
    titles it hardly hits, and would hold a copy of every title's words."""

    def __init__(self, tk: jieba.Tokenizer) -> None:
        self.tk = tk
        self._hmm: dict[str, list[str]] = {}

    def words(self, text: str) -> list[str]:
        out: list[str] = []
        for block in _HAN.split(text):
            if not block:
                continue
            if _HAN.match(block):
                out.extend(self._cut_run(block))
            else:  # jieba yields white space runs and single characters: keep the word characters
                out.extend(ch for ch in block if not _ONLY_PUNCT.match(ch))
        return out

    def _cut_run(self, sentence: str) -> list[str]:
        """jieba's `__cut_DAG` (get_DAG, calc, then the HMM on unknown stretches) of one run."""
        get = self.tk.FREQ.get
        n = len(sentence)
        logtotal = log(self.tk.total)
        score = [0.0] * (n + 1)
        end = list(range(n + 1))
        neg_inf = _NEG_INF
        for k in range(n - 1, -1, -1):
            # calc: max over the DAG's ends i of (log(freq) - logtotal + score[i + 1], i). The
            # ends come in increasing order, so ">=" keeps the later end on a tie, as max() of
            # (score, end) tuples does; every candidate is finite, so the first one wins -inf.
            best = neg_inf
            f = get(sentence[k])
            i = k
            while f is not None:  # a prefix of some dictionary word (0: a prefix only)
                if f:
                    s = log(f) - logtotal + score[i + 1]
                    if s >= best:
                        best = s
                        end[k] = i
                i += 1
                if i == n:
                    break
                f = get(sentence[k : i + 1])
            if best == neg_inf:  # no word starts here: the character alone, log(FREQ.get(ch) or 1) = 0
                best = 0.0 - logtotal + score[k + 1]
            score[k] = best
        words: list[str] = []
        buf = ""
        x = 0
        while x < n:
            y = end[x] + 1
            if y - x == 1:
                buf += sentence[x]
            else:
                if buf:
                    self._flush(buf, words)
                    buf = ""
                words.append(sentence[x:y])
            x = y
        if buf:
            self._flush(buf, words)
        return [w for w in words if w[0] not in _PUNCT_IN_HAN or not _ONLY_PUNCT.match(w)]

    def _flush(self, buf: str, words: list[str]) -> None:
        """A stretch of single characters: one character as is; a dictionary word as its
        characters; anything else through the HMM (`finalseg.cut`)."""
        if len(buf) == 1:
            words.append(buf)
        elif self.tk.FREQ.get(buf):
            words.extend(buf)
        else:
            for blk in _FINAL_HAN.split(buf):
                if not blk:
                    continue
                if _FINAL_HAN.match(blk):
                    cut = self._hmm.get(blk)
                    if cut is None:
                        cut = _viterbi_words(blk)
                        if len(self._hmm) >= _CACHE_MAX:
                            self._hmm.clear()
                        self._hmm[blk] = cut
                    force = finalseg.Force_Split_Words
                    for word in cut:
                        if force and word in force:
                            words.extend(word)
                        else:
                            words.append(word)
                else:
                    words.extend(x for x in _FINAL_SKIP.split(blk) if x)
