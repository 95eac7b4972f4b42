"""Labeled CSV / Parquet / JSONL files a data scientist brings, in the canonical format:
a text column, optional `split`, `source` and `id`, and one 0/1/blank column per category."""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.loaders.rows import check_decodes, check_delimited, record_lines
from qinglang.data.schema import LABEL_DTYPE, SPLITS, dedup_key
from qinglang.data.taxonomy import DEFAULT_KIND, KINDS, Taxonomy

# `labelers` and `adjudicated` are written by `qinglang label export` (how many people
# labeled a row, whether a disagreement was settled); they are provenance, not labels.
META_COLUMNS = ("id", "split", "source", "kind", "labelers", "adjudicated")
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}


def table_format(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise DataError(f"unsupported file type {suffix!r}; use one of {sorted(_FORMATS)}", file=str(path))
    return _FORMATS[suffix]


def _existing_table(path: str | Path) -> tuple[Path, str]:
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", file=str(path))
    return path, table_format(path)


def _csv_options(fmt: str, encoding: str | None = None) -> dict:
    """Every column as text, empty cells as missing, a BOM tolerated (UTF-8, the default)."""
    return dict(
        sep="\t" if fmt == "tsv" else ",",
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        encoding=_encoding(encoding),
    )


def _encoding(encoding: str | None) -> str:
    """A text encoding Python knows (None: UTF-8 with or without a BOM), else a DataError."""
    if encoding is None:
        return "utf-8-sig"
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise DataError(f"unknown text encoding {encoding!r} (e.g. utf-8, gb18030, gbk, big5)") from None
    return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name


def _check_text_table(path: Path, fmt: str, encoding: str | None = None) -> None:
    """Fail on a line cut short or too long, or on bytes that are not UTF-8, with the line
    and the value: pandas pads a short CSV line with blanks (unknown labels, silently) and
    reports a decoding error as a byte offset."""
    if fmt in ("csv", "tsv"):
        check_delimited(path, "\t" if fmt == "tsv" else ",", _encoding(encoding))
    elif fmt == "jsonl":
        check_decodes(path, _encoding(encoding))


def read_table(path: str | Path, encoding: str | None = None) -> pd.DataFrame:
    """Read any supported table with every column as text, so label checks see the raw values.
    `encoding`: of a CSV, TSV or JSONL file (None: UTF-8, a BOM tolerated)."""
    path, fmt = _existing_table(path)
    _check_text_table(path, fmt, encoding)
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(path, **_csv_options(fmt, encoding))
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=True, dtype=False, encoding=_encoding(encoding))
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a corrupt file
        raise DataError(f"cannot read as {fmt}: {exc}", file=str(path)) from exc


def iter_table(path: str | Path, chunk_rows: int, encoding: str | None = None) -> Iterator[pd.DataFrame]:
    """`read_table` in chunks of at most `chunk_rows` rows, for files larger than memory.
    Chunks keep the file's row numbering in their index (0-based)."""
    path, fmt = _existing_table(path)
    _check_text_table(path, fmt, encoding)
    try:
        if fmt in ("csv", "tsv"):
            chunks = pd.read_csv(path, **_csv_options(fmt, encoding), chunksize=chunk_rows)
        elif fmt == "parquet":
            chunks = _parquet_chunks(path, chunk_rows)
        else:
            chunks = pd.read_json(path, lines=True, dtype=False, chunksize=chunk_rows, encoding=_encoding(encoding))
        start = 0
        for chunk in chunks:
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk
    except DataError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a corrupt file
        raise DataError(f"cannot read as {fmt}: {exc}", file=str(path)) from exc


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()


def count_rows(path: str | Path) -> int | None:
    """Row count when the file says it cheaply (Parquet metadata), else None."""
    if table_format(path) != "parquet":
        return None
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path).metadata.num_rows
    except Exception:
        return None


def _label(value: object) -> int | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    text = str(value).strip().lower()
    if text in ("", "nan", "none"):
        return None
    if text in ("1", "1.0", "true"):
        return 1
    if text in ("0", "0.0", "false"):
        return 0
    raise ValueError(value)


def read_labeled_file(
    path: str | Path,
    taxonomy: Taxonomy,
    *,
    source: str | None = None,
    text_column: str = "text",
    strict: bool = True,
    kind: str | None = None,
) -> tuple[pd.DataFrame, Counter]:
    """Read a canonical labeled file and check every row.

    Strict (the default) fails on the first bad row; otherwise bad rows are dropped and
    counted by reason. Either way a conflicting duplicate text is an error: it means the
    file contradicts itself, which no choice of ours can repair."""
    path = Path(path)
    origin = _Origin(path, source, text_column, strict, kind=kind)
    out, dropped, kept_rows = _canonical(read_table(path), taxonomy, origin)
    _check_conflicts(out, [k for k in taxonomy.keys if out[k].notna().any()], path, kept_rows)
    return out, dropped


def iter_labeled_file(
    path: str | Path,
    taxonomy: Taxonomy,
    chunk_rows: int,
    *,
    source: str | None = None,
    text_column: str = "text",
    kind: str | None = None,
) -> Iterator[pd.DataFrame]:
    """`read_labeled_file` (strict) in chunks, for labeled files larger than memory: every
    row is checked, the first bad one stops with its row number. Duplicate texts are only
    checked for conflicts within a chunk."""
    path = Path(path)
    for chunk in iter_table(path, chunk_rows):
        origin = _Origin(path, source, text_column, True, int(chunk.index[0]) if len(chunk) else 0, kind)
        out, _, kept_rows = _canonical(chunk, taxonomy, origin)
        _check_conflicts(out, [k for k in taxonomy.keys if out[k].notna().any()], path, kept_rows)
        yield out


@dataclass(frozen=True)
class _Origin:
    """Where a raw table comes from and how to read it: its file, the source name to give
    its rows (None: a `source` column, else the file's stem), the text column, whether a
    bad row stops the read, and the file row index of its first row (chunks)."""

    path: Path
    source: str | None
    text_column: str
    strict: bool
    row_offset: int = 0
    kind: str | None = None  # the rows' kind where the file has no `kind` column (None: DEFAULT_KIND)


def _canonical(raw: pd.DataFrame, taxonomy: Taxonomy, origin: _Origin) -> tuple[pd.DataFrame, Counter, list[int]]:
    """The canonical frame of a raw table (or chunk), the drop counts, and the file row
    number of each kept row."""
    categories = _category_columns(raw, taxonomy, origin)
    first_row = (2 if table_format(origin.path) in ("csv", "tsv") else 1) + origin.row_offset
    dropped: Counter = Counter()
    keep = []
    labels = {k: [] for k in categories}
    for i, rec in enumerate(raw.itertuples(index=False)):
        row = dict(zip(raw.columns, rec, strict=False))
        parsed, problem = _checked_row(row, categories, origin.text_column)
        if problem:
            if origin.strict:
                raise DataError(problem, file=str(origin.path), row=_line_of(origin, i, i + first_row))
            dropped[problem.split(":")[0] if problem.startswith("column") else problem] += 1
            continue
        keep.append(i)
        for k in categories:
            labels[k].append(parsed[k])
    return _frame_of(raw, keep, labels, taxonomy, origin), dropped, [i + first_row for i in keep]


def _category_columns(raw: pd.DataFrame, taxonomy: Taxonomy, origin: _Origin) -> list[str]:
    """The taxonomy categories among the columns; unknown columns are an error."""
    if origin.text_column not in raw.columns:
        raise DataError(f"missing text column {origin.text_column!r}; found {list(raw.columns)}", file=str(origin.path))
    allowed = {origin.text_column, *META_COLUMNS}
    unknown = [c for c in raw.columns if c not in allowed and c not in taxonomy]
    if unknown:
        raise DataError(
            f"unknown category column(s) {unknown}: not in the taxonomy ({', '.join(taxonomy.keys)}); "
            "add them to the taxonomy or drop them",
            file=str(origin.path),
        )
    categories = [k for k in taxonomy.keys if k in raw.columns]
    if not categories:
        raise DataError(f"no category column; expected some of {taxonomy.keys}", file=str(origin.path))
    return categories


def _checked_row(row: dict, categories: list[str], text_column: str) -> tuple[dict, str | None]:
    """The row's parsed labels, and its first problem (None when it is good)."""
    problem = None
    text = row[text_column]
    if text is None or (isinstance(text, float) and pd.isna(text)) or not str(text).strip():
        problem = "empty text"
    elif "split" in row and row["split"] is not None and not pd.isna(row["split"]) and str(row["split"]) not in SPLITS:
        problem = f"split {row['split']!r} is not one of {list(SPLITS)}"
    elif "kind" in row and not _blank(row["kind"]) and str(row["kind"]).strip() not in KINDS:
        problem = f"kind {row['kind']!r} is not one of {list(KINDS)}"
    parsed = {}
    for k in categories:
        try:
            parsed[k] = _label(row[k])
        except ValueError:
            problem = problem or f"column {k!r}: value {row[k]!r} is not 0, 1 or blank"
    return parsed, problem


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or not str(value).strip()


def _frame_of(raw: pd.DataFrame, keep: list[int], labels: dict, taxonomy: Taxonomy, origin: _Origin) -> pd.DataFrame:
    out = pd.DataFrame({"text": raw[origin.text_column].iloc[keep].astype(str).str.strip().to_numpy()})
    default_source = origin.source or origin.path.stem
    if "source" in raw.columns and origin.source is None:
        given = raw["source"].iloc[keep]
        present = given.notna() & (given.astype("string").str.strip() != "")
        out["source"] = given.where(present, default_source).astype(str).to_numpy()
    else:
        out["source"] = default_source
    out["split"] = raw["split"].iloc[keep].to_numpy() if "split" in raw.columns else None
    out["split"] = out["split"].where(out["split"].notna(), None)
    if "id" in raw.columns:
        out["id"] = raw["id"].iloc[keep].to_numpy()
    default_kind = origin.kind or DEFAULT_KIND
    if "kind" in raw.columns:
        given = raw["kind"].iloc[keep]
        out["kind"] = [default_kind if _blank(v) else str(v).strip() for v in given]
    else:
        out["kind"] = default_kind
    for k in taxonomy.keys:
        out[k] = pd.array(labels[k] if k in labels else [None] * len(out), dtype=LABEL_DTYPE)
    return out


def _line_of(origin: _Origin, index: int, guess: int) -> int:
    """The file line of the chunk's record `index` (CSV/TSV: found by re-reading, since a
    quoted field may span lines; other formats: `guess`)."""
    fmt = table_format(origin.path)
    if fmt not in ("csv", "tsv"):
        return guess
    record = origin.row_offset + index
    lines = record_lines(origin.path, [record], "\t" if fmt == "tsv" else ",", _encoding(None))
    return lines.get(record, guess)


def _check_conflicts(frame: pd.DataFrame, categories: list[str], path: Path, rows: list[int]) -> None:
    """The first duplicate text (in file order) with two different labels for a category."""
    keys = frame["text"].map(dedup_key).to_numpy()
    dup = pd.Series(keys).duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    sub, sub_keys = frame[dup], keys[dup]
    first_bad = None
    for k in categories:
        labels = sub[k].groupby(sub_keys, sort=False).nunique()
        for key in labels.index[labels.to_numpy() > 1]:
            position = int(np.argmax(keys == key))
            if first_bad is None or position < first_bad[0]:
                first_bad = (position, key, k)
            break
    if first_bad is not None:
        position, key, k = first_bad
        idx = np.flatnonzero(keys == key)
        lines = ", ".join(str(rows[j]) for j in idx)
        raise DataError(
            f"the same text (rows {lines}) has conflicting labels for {k!r}: {frame['text'].iloc[idx[0]]!r}",
            file=str(path),
            row=rows[idx[0]],
        )
