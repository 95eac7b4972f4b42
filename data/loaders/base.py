"""The contract every corpus reader fulfils, and the registry that names them.

A reader returns every row it keeps and counts every row it drops, by reason. It never
guesses about a damaged row: an unknown or missing native label, a line with too few or
too many fields, an id given to two different texts or bytes its encoding cannot read
stop the read with a DataError naming the file, the line and the value (loaders.rows
reads native files that way), because a damaged row read anyway trains as a negative."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import KINDS


@dataclass
class NativeRows:
    """A corpus as read: `text`, official `split` (None where the corpus has none) and
    `native`, a tuple of the corpus's own label values per row. Mapping native labels to
    categories is the taxonomy's job, not the reader's."""

    source: str
    frame: pd.DataFrame
    files: list[Path]
    dropped: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    kind: str | None = None  # title, post or comment; read_native sets it from the reader


@dataclass(frozen=True)
class Reader:
    name: str
    folder: str
    read: Callable[[Path], NativeRows]
    description: str
    kind: str  # what its texts are: title, post or comment (qinglang.data.taxonomy.KINDS)
    labels: tuple[str, ...] | None = None  # every native label it can emit (None: open, e.g. the taxonomy's keys)


REGISTRY: dict[str, Reader] = {}


def register(name: str, folder: str, description: str, *, kind: str, labels: tuple[str, ...] | None = None):
    if kind not in KINDS:
        raise ValueError(f"reader {name!r}: kind {kind!r} is not one of {KINDS}")

    def wrap(fn: Callable[[Path], NativeRows]) -> Callable[[Path], NativeRows]:
        REGISTRY[name] = Reader(name, folder, fn, description, kind, labels)
        return fn

    return wrap


def read_native(name: str, data_dir: str | Path) -> NativeRows:
    """Read the corpus `name` from its folder under `data_dir`."""
    if name not in REGISTRY:
        raise DataError(f"unknown source {name!r}; known sources: {', '.join(sorted(REGISTRY))}")
    reader = REGISTRY[name]
    folder = Path(data_dir) / reader.folder
    if not folder.exists():
        raise DataError(f"source {name!r}: folder not found (is the data directory right?)", file=str(folder))
    rows = reader.read(folder)
    rows.kind = reader.kind
    return rows


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    return path


def require_columns(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {list(frame.columns)}", file=str(path))


def clean_texts(frame: pd.DataFrame, dropped: Counter, reason: str = "empty text") -> pd.DataFrame:
    """Drop rows whose text is missing or blank, counting them under `reason`."""
    text = frame["text"].astype("string").str.strip()
    keep = text.notna() & (text != "")
    n = int((~keep).sum())
    if n:
        dropped[reason] += n
    out = frame.loc[keep].copy()
    out["text"] = text[keep].astype(str)
    return out.reset_index(drop=True)


def native_frame(text, split, native) -> pd.DataFrame:
    return pd.DataFrame({"text": list(text), "split": list(split), "native": list(native)}, dtype=object)
