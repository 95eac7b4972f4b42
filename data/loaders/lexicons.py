"""Readers for the keyword lists that platforms' keyword filters run, in their native formats.

A taxonomy category names, under `lexicons`, which files of which lexicon it draws terms
from; this module only reads them. Terms come back stripped, without empty lines and
duplicates, in file order: matching rules (case, width, minimum length) belong to the
model that matches them, so they are applied there, with the text normalisation."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qinglang.data.errors import DataError
from qinglang.data.loaders.rows import decode_file, json_error


def _lines(text: str, path: Path) -> list[str]:
    return text.splitlines()


def _json_keys(text: str, path: Path) -> list[str]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_error(exc, path) from None
    if not isinstance(raw, dict):
        raise DataError(f"expected a JSON object of term -> token ids, got {type(raw).__name__}", file=str(path))
    return list(raw)


@dataclass(frozen=True)
class LexiconSource:
    name: str
    folder: str
    parse: Callable[[str, Path], list[str]]
    description: str


LEXICONS: dict[str, LexiconSource] = {
    s.name: s
    for s in (
        LexiconSource(
            "sensitive_lexicon",
            "lexicons/sensitive-lexicon/Vocabulary",
            _lines,
            "Sensitive-lexicon word lists, one term per line, category by file name",
        ),
        LexiconSource(
            "toxicn_insults",
            "toxicn/lexicon",
            _json_keys,
            "ToxiCN insult lexicon, JSON objects whose keys are the terms",
        ),
    )
}


def unique_terms(terms: Iterable[str]) -> list[str]:
    """Strip, drop empty terms and duplicates, keep the first occurrence's order."""
    return list(dict.fromkeys(t for t in (s.strip() for s in terms) if t))


def read_lexicon(name: str, files: Iterable[str], data_dir: str | Path) -> list[str]:
    """The terms of the given files of lexicon `name`, read from its folder under `data_dir`."""
    if name not in LEXICONS:
        raise DataError(f"unknown lexicon {name!r}; known lexicons: {', '.join(sorted(LEXICONS))}")
    source = LEXICONS[name]
    folder = Path(data_dir) / source.folder
    if not folder.is_dir():
        raise DataError(f"lexicon {name!r}: folder not found (is the data directory right?)", file=str(folder))
    terms: list[str] = []
    for file in files:
        if Path(file).name != file:
            raise DataError(f"lexicon {name!r}: expected a file name inside {source.folder}, got {file!r}")
        path = folder / file
        if not path.is_file():
            raise DataError(f"lexicon {name!r}: file not found", file=str(path))
        text = decode_file(path, "utf-8-sig")  # a bad byte: DataError with its line and the bytes
        terms.extend(source.parse(text, path))
    return unique_terms(terms)
