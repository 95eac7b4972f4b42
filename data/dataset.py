"""Assemble the training table: read each configured source, map it to categories,
merge duplicate texts across sources, assign deterministic splits, and account for
every row that was dropped or whose labels conflict."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.loaders import REGISTRY, NativeRows, read_labeled_file, read_native
from qinglang.data.schema import LABEL_DTYPE, SPLITS, dedup_key, hash_split, validate_canonical
from qinglang.data.taxonomy import DEFAULT_KIND, Taxonomy

_SPLIT_RANK = {s: i for i, s in enumerate(SPLITS)}


@dataclass(frozen=True)
class FileSource:
    """A labeled file a data scientist brings (canonical columns; see loaders.tabular)."""

    path: Path
    source: str | None = None
    text_column: str = "text"
    kind: str | None = None  # of rows without a `kind` column (None: DEFAULT_KIND)


@dataclass
class SourceReport:
    files: list[str]
    rows_read: int
    dropped: dict[str, int]
    notes: list[str] = field(default_factory=list)
    rows_kept: int = 0
    merged_into_other_rows: int = 0  # duplicates (within this source or of an earlier one) folded into one row


@dataclass
class Dataset:
    table: pd.DataFrame
    sources: dict[str, SourceReport]
    conflicts: dict[str, int]
    conflict_examples: list[dict]

    def coverage(self, categories: list[str]) -> pd.DataFrame:
        """Positives / negatives / unknown per source, split and category."""
        rows = []
        for (source, split), part in self.table.groupby(["source", "split"], sort=True):
            for k in categories:
                col = part[k]
                rows.append(
                    {
                        "source": source,
                        "split": split,
                        "category": k,
                        "positive": int((col == 1).sum()),
                        "negative": int((col == 0).sum()),
                        "unknown": int(col.isna().sum()),
                    }
                )
        return pd.DataFrame(rows)

    def report(self) -> dict:
        """Every source's rows read, dropped (by reason), merged and kept, plus label conflicts."""
        return {
            "sources": {name: asdict(rep) for name, rep in self.sources.items()},
            "conflicting_labels_set_unknown": self.conflicts,
            "conflict_examples": self.conflict_examples,
        }

    def fingerprint(self, categories: list[str]) -> dict[str, dict]:
        """Per source: row count and a SHA-256 over its texts, splits and labels in order."""
        out = {}
        for source, part in self.table.groupby("source", sort=True):
            out[source] = {"rows": len(part), "sha256": rows_sha256(part, ["text", "split", *categories])}
        total = hashlib.sha256("".join(v["sha256"] for v in out.values()).encode()).hexdigest()
        out["__all__"] = {"rows": len(self.table), "sha256": total}
        return out


def rows_sha256(frame: pd.DataFrame, columns: list[str]) -> str:
    """SHA-256 over the given columns of every row, in order (missing values as empty)."""
    h = hashlib.sha256()
    for rec in frame[columns].itertuples(index=False):
        h.update("\x1f".join("" if pd.isna(v) else str(v) for v in rec).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def to_canonical(rows: NativeRows, taxonomy: Taxonomy) -> pd.DataFrame:
    """Map a corpus's native labels to categories, as the taxonomy declares for that source."""
    speaks = taxonomy.speaks_for(rows.source)
    if not speaks:
        raise DataError(
            f"source {rows.source!r} speaks for no category of the taxonomy; "
            "name it under some category's `sources` or leave it out of the config"
        )
    _check_native_names(rows.source, speaks)
    frame = rows.frame
    out = pd.DataFrame({"text": frame["text"].astype(str).to_numpy(), "source": rows.source})
    out["split"] = frame["split"].to_numpy()
    out["kind"] = rows.kind or (REGISTRY[rows.source].kind if rows.source in REGISTRY else DEFAULT_KIND)
    for extra in frame.columns.difference(["text", "split", "native"]):
        out[extra] = frame[extra].to_numpy()
    natives = frame["native"].map(frozenset)
    for key in taxonomy.keys:
        if key in speaks:
            positives = speaks[key]
            out[key] = pd.array([int(bool(n & positives)) for n in natives], dtype=LABEL_DTYPE)
        else:
            out[key] = pd.array([None] * len(out), dtype=LABEL_DTYPE)
    return out


def _check_native_names(source: str, speaks: dict[str, frozenset[str]]) -> None:
    """A taxonomy mapping that names a label its source never has (`cold: [ofensive]`) would
    silently make every row of that source a negative: refuse it, naming the real labels."""
    reader = REGISTRY.get(source)
    if reader is None or reader.labels is None:
        return
    for key, natives in speaks.items():
        unknown = sorted(set(natives) - set(reader.labels))
        if unknown:
            raise DataError(
                f"taxonomy: category {key!r} maps {source} labels {unknown}, which {source} never has; "
                f"its labels are {', '.join(reader.labels)}"
            )


def sample_rows(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """A deterministic slice of `n` rows, independent of the split hash so that slices keep
    the split proportions."""
    if n >= len(frame):
        return frame
    order = frame["text"].map(lambda t: hashlib.md5(("slice:" + t).encode("utf-8")).digest())
    return frame.loc[order.sort_values(kind="stable").index[:n]].sort_index().reset_index(drop=True)


@dataclass(frozen=True)
class Sampling:
    """How rows are split and sliced: the dev and test fractions of hash-split sources, and
    a deterministic cap on rows per source (None: every row)."""

    dev_fraction: float = 0.1
    test_fraction: float = 0.2
    max_rows_per_source: int | None = None


def build_dataset(
    taxonomy: Taxonomy,
    *,
    data_dir: str | Path | None,
    corpora: list[str],
    files: list[FileSource] = (),
    sampling: Sampling = Sampling(),
) -> Dataset:
    if corpora and data_dir is None:
        raise DataError("corpora are configured but no data directory is set (--data-dir or QINGLANG_DATA_DIR)")
    frames, reports = [], {}
    for name in corpora:
        native = read_native(name, data_dir)
        rows_read = len(native.frame) + sum(native.dropped.values())
        if sampling.max_rows_per_source:
            native.frame = sample_rows(native.frame, sampling.max_rows_per_source)
        frames.append(to_canonical(native, taxonomy))
        reports[name] = SourceReport(
            [str(f) for f in native.files], rows_read, dict(native.dropped), list(native.notes)
        )
    for spec in files:
        frame, dropped = read_labeled_file(
            spec.path, taxonomy, source=spec.source, text_column=spec.text_column, kind=spec.kind
        )
        if sampling.max_rows_per_source:
            frame = sample_rows(frame, sampling.max_rows_per_source)
        frames.append(frame)
        for source in frame["source"].unique():
            reports[source] = SourceReport(
                [str(spec.path)], int((frame["source"] == source).sum()) + sum(dropped.values()), dict(dropped)
            )
    if not frames:
        raise DataError("no data: configure at least one corpus or labeled file")
    table, conflicts, examples, merged_away = _merge(
        pd.concat(frames, ignore_index=True), taxonomy.keys, sampling.dev_fraction, sampling.test_fraction
    )
    for name, rep in reports.items():
        rep.rows_kept = int((table["source"] == name).sum())
    for name, n in merged_away.items():
        reports[name].merged_into_other_rows = n
    validate_canonical(table, taxonomy)
    return Dataset(table, reports, conflicts, examples)


def _merge(table: pd.DataFrame, categories: list[str], dev_fraction: float, test_fraction: float):
    """One row per distinct text. Labels known by several rows are kept when they agree and
    become unknown (and are counted) when they conflict. A text with an official split
    keeps the most held-out one among its copies; others are split by hash."""
    key = table["text"].map(dedup_key)
    groups = table.groupby(key, sort=False)
    official_rank = table["split"].map(_SPLIT_RANK).astype("float")
    group_rank = official_rank.groupby(key, sort=False).transform("max")
    hashed = key.map(lambda k: hash_split(k, dev_fraction, test_fraction))
    split = group_rank.map(lambda r: SPLITS[int(r)] if pd.notna(r) else None).fillna(hashed)

    first = ~key.duplicated()
    merged = table.loc[first].copy()
    merged["split"] = split[first].to_numpy()
    conflicts, examples = {}, []
    for k in categories:
        lo = groups[k].transform("min")[first]
        hi = groups[k].transform("max")[first]
        clash = lo.notna() & (lo != hi)
        conflicts[k] = int(clash.sum())
        merged[k] = hi.mask(clash).astype(LABEL_DTYPE).to_numpy()
        for text in merged.loc[clash.to_numpy(), "text"].head(3):
            examples.append({"category": k, "text": text})
    merged_away = Counter(table.loc[~first, "source"])
    return merged.reset_index(drop=True), conflicts, examples, merged_away
