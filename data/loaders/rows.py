"""Reading native corpus files strictly, row by row.

pandas fills a CSV line cut short with NaN and reports a decoding error as a byte offset,
so a damaged row used to train as a silent negative. These helpers fail on the first
damaged row instead, naming the file, the line a person sees in an editor (header = line
1; a record that spans lines is named by its first) and the offending value, as the
user-file loader (loaders.tabular) does for canonical files."""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qinglang.data.errors import DataError

_SHOWN = 80  # characters of a row quoted in a message
_WS = re.compile(r"\s*")


def shown(value: object) -> str:
    """`value` quoted for a message, cut to a readable length."""
    text = str(value)
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")


def is_missing(value: object) -> bool:
    """None, NaN or a blank string: no value in the cell."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and pd.isna(value):
        return True
    return isinstance(value, str) and not value.strip()


def _codec(encoding: str) -> tuple[str, str]:
    """The codec to decode with (a UTF-8 BOM is stripped before, so utf-8-sig reads as
    utf-8 and offsets stay in the file's own bytes) and the encoding's name for messages."""
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig"):
        return "utf-8", "UTF-8"
    return name, name.upper()


def decode_bytes(raw: bytes, path: Path, encoding: str = "utf-8") -> str:
    """`raw` decoded; a byte the encoding cannot read is a DataError naming its line, the
    bad bytes and the text around them (a byte offset helps nobody find the row)."""
    codec, label = _codec(encoding)
    if codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise _decode_error(raw, exc, codec, label, path, 0) from None


def _decode_error(raw: bytes, exc: UnicodeDecodeError, codec: str, label: str, path: Path, line0: int) -> DataError:
    """The DataError for `exc` raised decoding `raw`, whose first line is line `line0 + 1`."""
    start = raw.rfind(b"\n", 0, exc.start) + 1
    end = raw.find(b"\n", exc.end)
    end = len(raw) if end < 0 else end
    line = raw[start:end].rstrip(b"\r").decode(codec, errors="replace")
    col = len(raw[start : exc.start].decode(codec, errors="replace"))
    around = line[max(0, col - 30) : col + 31]
    return DataError(
        f"not valid {label}: bytes {raw[exc.start : exc.end]!r} cannot be decoded ({exc.reason}), in {shown(around)}",
        file=str(path),
        row=line0 + raw.count(b"\n", 0, exc.start) + 1,
    )


def decode_file(path: Path, encoding: str = "utf-8") -> str:
    """The whole text of `path` (see decode_bytes)."""
    return decode_bytes(path.read_bytes(), path, encoding)


def text_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line without its end) for each line, split on newlines only:
    `str.splitlines` also splits on U+2028 and other separators inside a text."""
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


@dataclass
class Table:
    """A delimited file as read: its header, every record as strings (all with as many
    fields as the header), and the line each record starts on."""

    path: Path
    header: list[str]
    records: list[list[str]]
    lines: list[int]

    def frame(self, *, empty_as_missing: bool = True) -> pd.DataFrame:
        """The records as a frame of strings; empty cells as NaN unless told otherwise
        (what `pd.read_csv(dtype=str, keep_default_na=False, na_values=[""])` gives)."""
        frame = pd.DataFrame(self.records, columns=self.header, dtype=str)
        return frame.mask(frame == "") if empty_as_missing else frame


def read_delimited(path: Path, *, encoding: str = "utf-8", sep: str = ",", quoting: bool = True) -> Table:
    """A CSV/TSV file, strictly: a record with fewer or more fields than the header is an
    error (pandas would pad a short one with NaN, which reads as a negative label). Blank
    lines hold no record and are skipped, as pandas does. `quoting=False` reads quote
    characters as text (csv.QUOTE_NONE)."""
    kind = "TSV" if sep == "\t" else "CSV"
    reader = csv.reader(
        io.StringIO(decode_file(path, encoding), newline=""),
        delimiter=sep,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
    )
    records, lines = [], []
    try:
        header = next(reader, None)
        if header is None:
            raise DataError(f"empty file: expected a {kind} header line", file=str(path))
        repeated = sorted({c for c in header if header.count(c) > 1})
        if repeated:
            raise DataError(f"column name(s) {repeated} repeated in the header", file=str(path), row=1)
        end = reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if not record:
                continue
            if len(record) != len(header):
                raise DataError(_field_count_problem(record, header, sep), file=str(path), row=start)
            records.append(record)
            lines.append(start)
    except csv.Error as exc:
        raise DataError(f"not valid {kind}: {exc}", file=str(path), row=reader.line_num) from None
    return Table(path, header, records, lines)


def _field_count_problem(record: list[str], header: list[str], sep: str) -> str:
    line = sep.join(record)
    if len(record) < len(header):
        missing = header[len(record) :]
        return (
            f"the line is cut short: {len(record)} field(s) where the header has {len(header)} "
            f"(no {', '.join(repr(c) for c in missing)}): {shown(line)}"
        )
    return (
        f"too many fields: {len(record)} where the header has {len(header)} "
        f"(extra {', '.join(shown(v) for v in record[len(header) :])}): {shown(line)}"
    )


def require_values(frame: pd.DataFrame, column: str, table: Table) -> None:
    """Every row has a value in `column`."""
    blank = frame[column].map(is_missing).to_numpy()
    if blank.any():
        first = int(blank.argmax())
        raise DataError(f"missing value in column {column!r}", file=str(table.path), row=table.lines[first])


def label_problem(value: object, column: str, allowed: Iterable[str]) -> str:
    """Why `value` is not one of the `allowed` native labels of `column`, with the closest
    allowed label when one is near (a typo like 'celebrity-hype')."""
    allowed = list(allowed)
    listing = f"labels are {', '.join(allowed)}"
    if is_missing(value):
        return f"missing label in column {column!r}; {listing}"
    close = difflib.get_close_matches(str(value).strip(), allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown label {str(value)!r} in column {column!r}; {listing}{hint}"


def map_labels(table: Table, column: str, mapping: dict[str, str]) -> list[str]:
    """The native label of each record's `column` value (stripped) through `mapping`; any
    other value, a blank one included, is an error with its row."""
    index = table.header.index(column)
    out = []
    for record, line in zip(table.records, table.lines, strict=True):
        value = record[index]
        native = mapping.get(value.strip())
        if native is None:
            raise DataError(label_problem(value, column, mapping), file=str(table.path), row=line)
        out.append(native)
    return out


def check_ids(entries: Iterable[tuple[object, object, Path, int | None]], column: str) -> None:
    """Each id names one text. `entries` are (id, text, file, row); the first id found
    again with a different text (compared stripped) is an error naming both rows. The same
    id with the same text is a duplicate row, which the dataset merge accounts for."""
    seen: dict[str, tuple[str, Path, int | None]] = {}
    for id_, text, path, row in entries:
        if is_missing(id_):
            continue
        key = str(id_).strip()
        text = "" if is_missing(text) else str(text).strip()
        first_text, first_path, first_row = seen.setdefault(key, (text, path, row))
        if first_text != text:
            where = "" if first_path == path else str(first_path)
            if first_row is not None:
                where += f"{', ' if where else ''}row {first_row}"
            raise DataError(
                f"{column} {key!r} names two different texts: {shown(text)} here and {shown(first_text)} on {where}",
                file=str(path),
                row=row,
            )


def json_error(exc: json.JSONDecodeError, path: Path, text: str | None = None, row: int | None = None) -> DataError:
    """A JSON syntax error with its line and the text there (not a character offset)."""
    if text is None:
        text = _rest_of_line(exc.doc, exc.doc.rfind("\n", 0, exc.pos) + 1)
    return DataError(
        f"not valid JSON ({exc.msg}): {shown(text.strip())}", file=str(path), row=exc.lineno if row is None else row
    )


def _rest_of_line(text: str, pos: int) -> str:
    end = text.find("\n", pos)
    return text[pos : len(text) if end < 0 else end].rstrip()


def json_list(text: str, path: Path) -> list[tuple[int, object]]:
    """The items of a JSON list, each with the line it starts on, so a bad record in a
    pretty-printed file is named by the line a person finds it on."""
    decoder = json.JSONDecoder()
    items: list[tuple[int, object]] = []
    pos = _WS.match(text, 0).end()
    if text[pos : pos + 1] != "[":
        raise DataError("expected a JSON list", file=str(path), row=text.count("\n", 0, pos) + 1)
    pos = _WS.match(text, pos + 1).end()
    line, counted = 1, 0
    if text[pos : pos + 1] != "]":
        while True:
            line, counted = line + text.count("\n", counted, pos), pos
            try:
                item, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise json_error(exc, path) from None
            items.append((line, item))
            pos = _WS.match(text, pos).end()
            if text[pos : pos + 1] == ",":
                pos = _WS.match(text, pos + 1).end()
                continue
            if text[pos : pos + 1] == "]":
                break
            raise DataError(
                f"not valid JSON (expected ',' or ']' after a list item): {shown(_rest_of_line(text, pos))}",
                file=str(path),
                row=text.count("\n", 0, pos) + 1,
            )
    rest = _WS.match(text, pos + 1).end()
    if rest != len(text):
        raise DataError(
            f"not valid JSON (extra data after the list): {shown(_rest_of_line(text, rest))}",
            file=str(path),
            row=text.count("\n", 0, rest) + 1,
        )
    return items


def check_decodes(path: Path, encoding: str = "utf-8") -> None:
    """Stream `path` line by line and fail on the first line the encoding cannot read, for
    files too large to decode at once (see decode_bytes for the message)."""
    codec, label = _codec(encoding)
    with path.open("rb") as fh:
        for number, raw in enumerate(fh):
            if number == 0 and codec == "utf-8" and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                raw.decode(codec)
            except UnicodeDecodeError as exc:
                raise _decode_error(raw, exc, codec, label, path, number) from None


def check_delimited(path: Path, sep: str = ",", encoding: str = "utf-8-sig") -> None:
    """Stream a CSV/TSV (UTF-8 by default, a BOM tolerated) and fail on the first record
    with fewer or more fields than the header, or the first line the encoding cannot read,
    without keeping any row: the check pandas does not make before it pads a short line."""
    kind = "TSV" if sep == "\t" else "CSV"
    _, label = _codec(encoding)
    with path.open("rb") as fh:
        reader = csv.reader(io.TextIOWrapper(fh, encoding=encoding, newline=""), delimiter=sep)
        try:
            header = next(reader, None)
            if header is None:
                return
            end = reader.line_num
            for record in reader:
                start, end = end + 1, reader.line_num
                if record and len(record) != len(header):
                    raise DataError(_field_count_problem(record, header, sep), file=str(path), row=start)
        except UnicodeDecodeError as exc:
            check_decodes(path, encoding)  # names the line and the bytes
            raise DataError(f"not valid {label}: {exc.reason}", file=str(path)) from None
        except csv.Error as exc:
            raise DataError(f"not valid {kind}: {exc}", file=str(path), row=reader.line_num) from None


def record_lines(path: Path, records: Iterable[int], sep: str = ",", encoding: str = "utf-8-sig") -> dict[int, int]:
    """The line (1-based, header = line 1) where each 0-based data record starts, for error
    messages: a quoted field may span lines, so record i is not always line i + 2. Scans
    the file only as far as the last record asked for; called on the error path only."""
    wanted = set(records)
    found: dict[int, int] = {}
    if not wanted:
        return found
    with path.open("rb") as fh:
        reader = csv.reader(io.TextIOWrapper(fh, encoding=encoding, newline=""), delimiter=sep)
        next(reader, None)
        start = reader.line_num + 1
        for index, _ in enumerate(reader):
            if index in wanted:
                found[index] = start
                if len(found) == len(wanted):
                    break
            start = reader.line_num + 1
    return found
