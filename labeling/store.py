"""Where labels live while they are being made: one SQLite file per labeling project.

Every answer is one committed row the moment it is given (WAL journal, synchronous FULL),
so a closed tab or a killed server loses at most the item on screen. Answers are never
rewritten: undo marks a labeler's last answer undone and a new answer is a new row, so the
file is also the audit trail (who said what, when, under which taxonomy version).

A labeler's *current* answer to an item is their latest answer not undone. Labelers never
see each other's answers (blind double annotation); adjudication records a final answer
per item beside them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import DEFAULT_KIND, Taxonomy, check_kind

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY, batch TEXT NOT NULL, position INTEGER NOT NULL,
    text TEXT NOT NULL, kind TEXT NOT NULL, selected_by TEXT NOT NULL DEFAULT '',
    added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS answers (
    answer_id INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL REFERENCES items(item_id),
    labeler TEXT NOT NULL, labels TEXT NOT NULL, skipped INTEGER NOT NULL DEFAULT 0,
    at TEXT NOT NULL, taxonomy_version TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS answers_by_labeler ON answers (labeler, undone, item_id);
CREATE TABLE IF NOT EXISTS adjudications (
    adjudication_id INTEGER PRIMARY KEY AUTOINCREMENT, item_id TEXT NOT NULL REFERENCES items(item_id),
    labels TEXT NOT NULL, adjudicator TEXT NOT NULL, at TEXT NOT NULL, taxonomy_version TEXT NOT NULL);
"""

BATCH_COLUMNS = ("item_id", "text", "kind", "selected_by")


class LabelStoreError(DataError):
    """The label database or a request to it is unusable; the message says why."""


def item_id_of(text: str) -> str:
    """A stable id for a text that came without one (the same text always gets the same id)."""
    return "t" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def labeler_name(labeler: object) -> str:
    """A labeler's (or adjudicator's) name, checked: 1-64 printable characters on one line."""
    name = labeler.strip() if isinstance(labeler, str) else ""
    if not name or len(name) > 64 or not name.isprintable():
        raise LabelStoreError(f"labeler name must be 1-64 printable characters on one line, got {labeler!r}")
    return name


@dataclass(frozen=True)
class Answer:
    """A labeler's answer to one item: the categories that apply (the others do not), or skipped."""

    item_id: str
    labeler: str
    labels: tuple[str, ...] = ()
    skipped: bool = False


class LabelStore:
    """A labeling database bound to the taxonomy it was created with."""

    def __init__(self, path: str | Path, taxonomy: Taxonomy, *, create: bool = True) -> None:
        self.path = Path(path)
        self.taxonomy = taxonomy
        if not create and not self.path.is_file():
            raise LabelStoreError("label database not found", file=str(self.path))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.executescript(_SCHEMA)
        with self._write() as db:
            self._check_taxonomy(db)

    # -- connection and taxonomy -------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise LabelStoreError(f"not a label database ({exc})", file=str(self.path)) from exc
        db.row_factory = sqlite3.Row
        return db

    def _check_taxonomy(self, db: sqlite3.Connection) -> None:
        found = dict(db.execute("SELECT key, value FROM meta").fetchall())
        mine = {"taxonomy_version": self.taxonomy.version, "categories": json.dumps(self.taxonomy.keys)}
        if not found:
            db.executemany("INSERT INTO meta VALUES (?, ?)", [*mine.items(), ("created_at", _now())])
            return
        if found.get("taxonomy_version") != mine["taxonomy_version"] or found.get("categories") != mine["categories"]:
            raise LabelStoreError(
                f"made with taxonomy version {found.get('taxonomy_version')!r} "
                f"(categories {', '.join(json.loads(found.get('categories', '[]')))}); this is version "
                f"{self.taxonomy.version!r} ({', '.join(self.taxonomy.keys)}). Use the taxonomy the database was "
                "made with (--taxonomy), or export its labels and start a new database",
                file=str(self.path),
            )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: taken before any read, so a check and
        the write it guards cannot interleave with another process's); all or nothing."""
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @property
    def taxonomy_version(self) -> str:
        return self.taxonomy.version

    def _checked_labels(self, labels: Iterable[str]) -> tuple[str, ...]:
        labels = tuple(dict.fromkeys(labels))
        unknown = [k for k in labels if k not in self.taxonomy]
        if unknown:
            raise LabelStoreError(f"unknown categories {unknown}; the taxonomy has {', '.join(self.taxonomy.keys)}")
        return tuple(k for k in self.taxonomy.keys if k in labels)  # taxonomy order

    # -- items -------------------------------------------------------------------------
    def add_batch(self, batch: pd.DataFrame, name: str) -> int:
        """Add a batch's rows (columns: `text`, optional `item_id`, `kind`, `selected_by`).
        Rows already in the database are kept as they are; an id that names a different
        text is an error. Returns the number of new items."""
        rows = _batch_rows(batch, name)
        with self._write() as db:
            start = db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM items").fetchone()[0]
            known = {r["item_id"]: r["text"] for r in db.execute("SELECT item_id, text FROM items")}
            new = []
            for row in rows:
                if row["item_id"] in known:
                    if known[row["item_id"]] != row["text"]:
                        raise LabelStoreError(
                            f"item {row['item_id']!r} is already in the database with a different text", file=name
                        )
                    continue
                known[row["item_id"]] = row["text"]
                new.append(
                    (row["item_id"], name, start + len(new), row["text"], row["kind"], row["selected_by"], _now())
                )
            db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", new)
        return len(new)

    def _check_item(self, db: sqlite3.Connection, item_id: str, labels: tuple[str, ...]) -> None:
        """The item exists and every label applies to its kind of text."""
        row = db.execute("SELECT kind FROM items WHERE item_id = ?", (item_id,)).fetchone()
        if row is None:
            raise LabelStoreError(f"unknown item {item_id!r}")
        wrong = [k for k in labels if not self.taxonomy[k].applies_to(row["kind"])]
        if wrong:
            raise LabelStoreError(f"{', '.join(wrong)} does not apply to a {row['kind']} (see the taxonomy's kinds)")

    def check_batch(self, batch: str | None) -> None:
        """A batch name that has no items is an error (rather than an empty, 'finished' batch)."""
        if batch and self.items(batch).empty:
            known = sorted(self.items()["batch"].unique())
            raise LabelStoreError(f"no batch {batch!r} in the database; batches: {', '.join(known) or 'none'}")

    def items(self, batch: str | None = None) -> pd.DataFrame:
        query = "SELECT item_id, batch, position, text, kind, selected_by FROM items"
        with closing(self._connect()) as db:
            frame = pd.read_sql_query(
                query + (" WHERE batch = ?" if batch else "") + " ORDER BY position",
                db,
                params=(batch,) if batch else None,
            )
        return frame

    def item(self, item_id: str) -> dict | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT item_id, batch, position, text, kind FROM items WHERE item_id = ?", (item_id,))
            found = row.fetchone()
        return dict(found) if found else None

    # -- answers -----------------------------------------------------------------------
    def answer(self, answer: Answer) -> None:
        """Record an answer at once (it replaces the labeler's current answer to the item)."""
        labeler = labeler_name(answer.labeler)
        labels = () if answer.skipped else self._checked_labels(answer.labels)
        with self._write() as db:
            self._check_item(db, answer.item_id, labels)
            db.execute(
                "INSERT INTO answers (item_id, labeler, labels, skipped, at, taxonomy_version) VALUES (?, ?, ?, ?, ?, ?)",
                (answer.item_id, labeler, json.dumps(labels), int(answer.skipped), _now(), self.taxonomy_version),
            )

    def undo(self, labeler: str, batch: str | None = None) -> str | None:
        """Withdraw the labeler's most recent answer still standing (in `batch`, if given);
        returns its item (None: nothing to undo)."""
        labeler = labeler_name(labeler)
        query = "SELECT a.answer_id, a.item_id FROM answers a JOIN items i ON a.item_id = i.item_id "
        query += "WHERE a.labeler = ? AND a.undone = 0" + (" AND i.batch = ?" if batch else "")
        with self._write() as db:
            last = db.execute(query + " ORDER BY a.answer_id DESC LIMIT 1", (labeler, batch) if batch else (labeler,))
            last = last.fetchone()
            if last is None:
                return None
            db.execute("UPDATE answers SET undone = 1 WHERE answer_id = ?", (last["answer_id"],))
        return last["item_id"]

    def current_answers(self, labeler: str | None = None) -> pd.DataFrame:
        """Each labeler's standing answer per item: item_id, labeler, labels (tuple), skipped, at."""
        query = """
            SELECT a.item_id, a.labeler, a.labels, a.skipped, a.at, a.taxonomy_version FROM answers a
            JOIN (SELECT item_id, labeler, MAX(answer_id) AS last FROM answers WHERE undone = 0
                  GROUP BY item_id, labeler) c ON a.answer_id = c.last"""
        params: tuple = ()
        if labeler is not None:
            query += " WHERE a.labeler = ?"
            params = (labeler_name(labeler),)
        with closing(self._connect()) as db:
            frame = pd.read_sql_query(query + " ORDER BY a.item_id, a.labeler", db, params=params)
        frame["labels"] = [tuple(json.loads(v)) for v in frame["labels"]]
        frame["skipped"] = frame["skipped"].astype(bool)
        return frame

    def next_item(self, labeler: str, batch: str | None = None) -> dict | None:
        """The first item (in batch order) the labeler has no standing answer for."""
        labeler = labeler_name(labeler)
        query = """
            SELECT item_id, batch, position, text, kind FROM items i WHERE NOT EXISTS (
                SELECT 1 FROM answers a WHERE a.item_id = i.item_id AND a.labeler = ? AND a.undone = 0)"""
        params: tuple = (labeler,)
        if batch:
            query += " AND batch = ?"
            params += (batch,)
        with closing(self._connect()) as db:
            row = db.execute(query + " ORDER BY position LIMIT 1", params).fetchone()
        return dict(row) if row else None

    def progress(self, labeler: str, batch: str | None = None) -> dict[str, int]:
        labeler = labeler_name(labeler)
        where, params = (" WHERE batch = ?", (batch,)) if batch else ("", ())
        with closing(self._connect()) as db:
            total = db.execute("SELECT COUNT(*) FROM items" + where, params).fetchone()[0]
            done = db.execute(
                "SELECT COUNT(DISTINCT a.item_id) FROM answers a JOIN items i ON a.item_id = i.item_id "
                "WHERE a.labeler = ? AND a.undone = 0" + (" AND i.batch = ?" if batch else ""),
                (labeler, *params),
            ).fetchone()[0]
        return {"done": done, "total": total}

    def labelers(self) -> list[str]:
        with closing(self._connect()) as db:
            return [r[0] for r in db.execute("SELECT DISTINCT labeler FROM answers WHERE undone = 0 ORDER BY labeler")]

    # -- adjudication ------------------------------------------------------------------
    def adjudicate(self, item_id: str, labels: Iterable[str], adjudicator: str) -> None:
        """Record the final answer for an item (the latest adjudication counts)."""
        adjudicator = labeler_name(adjudicator)
        labels = self._checked_labels(labels)
        with self._write() as db:
            self._check_item(db, item_id, labels)
            db.execute(
                "INSERT INTO adjudications (item_id, labels, adjudicator, at, taxonomy_version) VALUES (?, ?, ?, ?, ?)",
                (item_id, json.dumps(labels), adjudicator, _now(), self.taxonomy_version),
            )

    def adjudications(self) -> pd.DataFrame:
        """The standing adjudication per item: item_id, labels (tuple), adjudicator, at."""
        query = """
            SELECT a.item_id, a.labels, a.adjudicator, a.at FROM adjudications a
            JOIN (SELECT item_id, MAX(adjudication_id) AS last FROM adjudications GROUP BY item_id) c
              ON a.adjudication_id = c.last ORDER BY a.item_id"""
        with closing(self._connect()) as db:
            frame = pd.read_sql_query(query, db)
        frame["labels"] = [tuple(json.loads(v)) for v in frame["labels"]]
        return frame


def _batch_rows(batch: pd.DataFrame, name: str) -> list[dict]:
    """The batch's rows as items, checked: a text column, non-empty texts, known kinds,
    ids unique within the batch."""
    if "text" not in batch.columns:
        raise LabelStoreError(f"batch has no 'text' column; found {list(batch.columns)}", file=name)
    rows, seen = [], {}
    for i, rec in enumerate(batch.to_dict("records")):
        text = rec.get("text")
        if not isinstance(text, str) or not text.strip():
            raise LabelStoreError("empty or missing text", file=name, row=i + 2)
        item_id = rec.get("item_id")
        item_id = str(item_id).strip() if isinstance(item_id, str | int) and str(item_id).strip() else item_id_of(text)
        kind = rec.get("kind") if isinstance(rec.get("kind"), str) and rec.get("kind") else DEFAULT_KIND
        try:
            kind = check_kind(kind)
        except ValueError as exc:
            raise LabelStoreError(str(exc), file=name, row=i + 2) from exc
        if item_id in seen:
            if seen[item_id] != text:
                raise LabelStoreError(f"item_id {item_id!r} names two different texts", file=name, row=i + 2)
            continue
        seen[item_id] = text
        selected_by = rec.get("selected_by") if isinstance(rec.get("selected_by"), str) else ""
        rows.append({"item_id": item_id, "text": text, "kind": kind, "selected_by": selected_by})
    if not rows:
        raise LabelStoreError("batch has no rows", file=name)
    return rows
