"""jieba word segmentation that pickles, initialises once per process and carries its
user dictionary inside the model.

`jieba.lcut` cannot be pickled (its tokenizer holds a lock), so the model stores only
this small object's settings; the jieba tokenizer itself is rebuilt on first use in each
process and shared by every copy with the same settings. Call `warm_up()` before server
workers fork so the dictionary is loaded once."""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

with warnings.catch_warnings():  # jieba imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    import jieba

from qinglang.data.errors import DataError

jieba.setLogLevel(logging.WARNING)

_ONLY_PUNCT = re.compile(r"^[\W_]+$", re.UNICODE)
_lock = threading.Lock()
_instances: dict[tuple, jieba.Tokenizer] = {}


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
