"""The raw Weibo trending archive: one JSON list of {url, title} per day, unlabeled."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
from tqdm import tqdm

from qinglang.data.errors import DataError
from qinglang.data.loaders.rows import decode_bytes, json_error

_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.json$")


ARCHIVE_FOLDER = "weibo_trending/raw"  # the archive's place under the data directory


@dataclass
class Archive:
    """`entries`: one row per record of a day file, with its rank where known (a day file
    holds every snapshot of the day's list, so a title can appear several times a day);
    `titles`: distinct titles with first/last seen day, days on the list and best (lowest)
    known rank."""

    entries: pd.DataFrame
    titles: pd.DataFrame
    problems: list[str] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


def band_rank(url: object) -> int | None:
    """The trending rank Weibo put in the url's `band_rank` parameter, if any (None for a
    missing or non-string url)."""
    if not isinstance(url, str):
        return None
    values = parse_qs(urlsplit(url).query).get("band_rank")
    if values and values[0].isdigit():
        return int(values[0])
    return None


def day_files(
    folder: str | Path, date_from: date | None = None, date_to: date | None = None, problems: list[str] | None = None
) -> list[tuple[date, Path]]:
    """The archive's day files in date order, within the dates given. A file named like a
    day that is not a real date (2023-02-30.json) is reported in `problems`, if given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("archive folder not found", file=str(folder))
    found = []
    for path in sorted(folder.iterdir()):
        m = _DAY_FILE.match(path.name)
        if not m:
            continue
        try:
            day = date.fromisoformat(m.group(1))
        except ValueError:
            if problems is not None:
                problems.append(f"{path}: skipped, {m.group(1)} is not a date")
            continue
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        found.append((day, path))
    return found


def _day_records(path: Path) -> object:
    """A day file's JSON; bytes that are not UTF-8 or broken JSON are a DataError with the
    line (a byte or character offset says nothing to a person opening the file)."""
    text = decode_bytes(path.read_bytes(), path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_error(exc, path) from None


def load_trending_archive(
    folder: str | Path, date_from: date | None = None, date_to: date | None = None, progress: bool = False
) -> Archive:
    """Read day files; a file that is empty or malformed is reported in `problems` and
    skipped, so one bad day never loses the rest."""
    days, titles, ranks, problems, dropped = [], [], [], [], Counter()
    files = day_files(folder, date_from, date_to, problems)
    for day, path in tqdm(files, disable=not progress, unit="days", desc="reading archive"):
        try:
            records = _day_records(path)
        except DataError as exc:
            problems.append(f"{exc.file}, row {exc.row}: skipped, {exc.problem}")
            continue
        except OSError as exc:
            problems.append(f"{path}: skipped, cannot be read ({exc.strerror or exc})")
            continue
        if not isinstance(records, list) or not records:
            problems.append(f"{path}: skipped, expected a non-empty JSON list")
            continue
        before = len(titles)
        for rec in records:
            title = rec.get("title") if isinstance(rec, dict) else None
            if not isinstance(title, str) or not title.strip():
                dropped["entry without a title"] += 1
                continue
            days.append(day)
            titles.append(title.strip())
            ranks.append(band_rank(rec.get("url")))
        if len(titles) == before:
            problems.append(f"{path}: skipped, no entry has a title")
    entries = pd.DataFrame({"day": pd.to_datetime(days), "title": titles, "rank": pd.array(ranks, dtype="Int32")})
    grouped = entries.groupby("title", sort=False)
    distinct = pd.DataFrame(
        {
            "first_seen": grouped["day"].min(),
            "last_seen": grouped["day"].max(),
            "days": grouped["day"].nunique(),
            "best_rank": grouped["rank"].min(),
        }
    ).reset_index()
    return Archive(entries, distinct, problems, dropped)
