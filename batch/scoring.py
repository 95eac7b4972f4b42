"""Score a table file of any size: every input column kept, `score_K` and `flag_K` added
per category.

- Streams: the input is read in chunks and each scored chunk is written out at once, so
  memory holds at most `2 x jobs` chunks whatever the file size.
- Uses every core: chunks are scored by forked worker processes that share the loaded
  model copy-on-write; output order is input order.
- Atomic: the output is written to a hidden temporary file next to the target and renamed
  only when complete; an error or Ctrl-C leaves no partial file (and any earlier output
  untouched)."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from qinglang.batch import CHUNK_ROWS
from qinglang.data.errors import DataError
from qinglang.data.files import as_umask_allows
from qinglang.data.loaders.tabular import count_rows, iter_table, table_format
from qinglang.models.bundle import ModelBundle

_worker_bundle: ModelBundle | None = None  # set in the parent before forking; workers inherit it


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def texts_of(frame: pd.DataFrame, column: str, origin: str) -> pd.Series:
    """The text column as str; a missing value is an error naming the row (1-based, as in
    the file), not a silent skip."""
    if column not in frame.columns:
        raise DataError(f"no text column {column!r}; found {list(frame.columns)} (use --text-column)", file=origin)
    col = frame[column]
    missing = col.isna().to_numpy()
    if missing.any():
        first = int(frame.index[int(np.argmax(missing))]) + 1
        raise DataError(
            f"column {column!r} is empty in {int(missing.sum())} row(s) of this chunk; fill or remove them",
            file=origin,
            row=first,
        )
    return col.astype(str)


def _score_texts(texts: list[str], profile: str | None, kind: str | None) -> pd.DataFrame:
    return _worker_bundle.score_frame(texts, profile, kind)


def _proba_of(texts: list[str], kind: str | None) -> np.ndarray:
    return _worker_bundle.classifier.predict_proba(texts, kind)


def score_texts(
    bundle: ModelBundle,
    texts: list[str],
    kind: str | None = None,
    *,
    jobs: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = False,
) -> np.ndarray:
    """(n, K) calibrated probabilities of `texts` (all of one `kind`; default: the model's)
    in their order, scored in chunks by forked workers (`jobs`, default every available
    core; 1 scores in this process)."""
    global _worker_bundle
    jobs = max(1, jobs or available_cores())
    desc = f"scoring {kind or bundle.default_kind}s"
    out = np.empty((len(texts), len(bundle.categories)))
    starts = range(0, len(texts), chunk_rows)
    bar = tqdm(total=len(texts), disable=not progress, unit="titles", desc=desc, smoothing=0.1)
    pool = None
    try:
        if jobs == 1 or len(starts) <= 1:
            results = (bundle.classifier.predict_proba(texts[i : i + chunk_rows], kind) for i in starts)
        else:
            _worker_bundle = bundle
            pool = ProcessPoolExecutor(jobs, mp_context=_fork_context())
            results = pool.map(_proba_of, (texts[i : i + chunk_rows] for i in starts), [kind] * len(starts))
        for i, proba in zip(starts, results, strict=True):
            out[i : i + len(proba)] = proba
            bar.update(len(proba))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        _worker_bundle = None
    return out


class _AtomicTableWriter:
    """Appends frames to a temporary file in the output's format; `commit` renames it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = table_format(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self._parquet = None
        self._schema = None
        self._first = True

    def write(self, frame: pd.DataFrame) -> None:
        if self.format in ("csv", "tsv"):
            frame.to_csv(
                self.tmp,
                index=False,
                sep="\t" if self.format == "tsv" else ",",
                mode="w" if self._first else "a",
                header=self._first,
            )
        elif self.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
            if self._parquet is None:
                self._schema = table.schema
                self._parquet = pq.ParquetWriter(self.tmp, self._schema)
            self._parquet.write_table(table)
        else:
            with open(self.tmp, "w" if self._first else "a", encoding="utf-8") as fh:
                frame.to_json(fh, orient="records", lines=True, force_ascii=False)
        self._first = False

    def commit(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        as_umask_allows(self.tmp)  # mkstemp made it 0600: the output gets what the umask allows
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        if self._parquet is not None:
            with contextlib.suppress(Exception):
                self._parquet.close()
        self.tmp.unlink(missing_ok=True)


@dataclass
class ScoreSummary:
    rows: int
    chunks: int
    jobs: int


@dataclass(frozen=True)
class ScoreRequest:
    """Score `input_path` into `output_path` (type from its extension). `jobs`: worker
    processes (default: every available core; 1 scores in this process). `profile`: the
    operating point for the flags (default: the model's)."""

    input_path: Path
    output_path: Path
    text_column: str = "text"
    profile: str | None = None
    kind: str | None = None  # title, post or comment (None: the model's default kind)
    jobs: int | None = None
    chunk_rows: int = CHUNK_ROWS
    progress: bool = True
    encoding: str | None = None  # of a CSV/TSV/JSONL input (None: UTF-8); e.g. gb18030 for GBK files


def score_file(bundle: ModelBundle, request: ScoreRequest) -> ScoreSummary:
    """Every input column plus score_K / flag_K, streamed chunk by chunk; the output file
    appears only when complete."""
    global _worker_bundle
    _check_request(bundle, request)
    jobs = max(1, request.jobs or available_cores())
    chunks = iter_table(request.input_path, request.chunk_rows, request.encoding)
    prepared = _prepared(chunks, request.text_column, set(bundle.score_columns()), str(request.input_path))
    writer = _AtomicTableWriter(Path(request.output_path))
    bar = tqdm(
        total=count_rows(request.input_path), disable=not request.progress, unit="rows", desc="scoring", smoothing=0.1
    )
    pool = None
    try:
        if jobs == 1:
            scored = ((frame, bundle.score_frame(texts, request.profile, request.kind)) for frame, texts in prepared)
        else:
            _worker_bundle = bundle
            pool = ProcessPoolExecutor(jobs, mp_context=_fork_context())
            scored = _in_pool(pool, prepared, (request.profile, request.kind), in_flight=2 * jobs)
        rows, n_chunks = _write_scored(scored, writer, bar)
        if n_chunks == 0:
            writer.write(pd.DataFrame(columns=[request.text_column, *bundle.score_columns()]))
        writer.commit()
    except BaseException:
        writer.discard()
        raise
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        _worker_bundle = None
    return ScoreSummary(rows, n_chunks, jobs)


def _check_request(bundle: ModelBundle, request: ScoreRequest) -> None:
    """Refuse what would fail later before any work: output type, overwriting the input,
    chunk size, an unknown profile."""
    table_format(request.output_path)
    if Path(request.input_path).resolve() == Path(request.output_path).resolve():
        raise DataError("output would overwrite the input; choose another --output", file=str(request.output_path))
    if request.chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    bundle.classifier.profile_thresholds(request.profile, request.kind)


def _write_scored(
    scored: Iterator[tuple[pd.DataFrame, pd.DataFrame]], writer: _AtomicTableWriter, bar: tqdm
) -> tuple[int, int]:
    rows = n_chunks = 0
    for frame, scores in scored:
        scores.index = frame.index
        writer.write(pd.concat([frame, scores], axis=1))
        rows += len(frame)
        n_chunks += 1
        bar.update(len(frame))
    return rows, n_chunks


def _prepared(
    chunks: Iterator[pd.DataFrame], column: str, clash: set[str], origin: str
) -> Iterator[tuple[pd.DataFrame, list[str]]]:
    for frame in chunks:
        taken = clash.intersection(frame.columns)
        if taken:
            raise DataError(f"input already has output columns {sorted(taken)}", file=origin)
        yield frame, texts_of(frame, column, origin).tolist()


def _in_pool(
    pool: ProcessPoolExecutor,
    work: Iterator[tuple[pd.DataFrame, list[str]]],
    point: tuple[str | None, str | None],
    in_flight: int,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """Results in submission order with at most `in_flight` chunks outstanding."""
    pending: deque[tuple[pd.DataFrame, Future]] = deque()
    for frame, texts in work:
        pending.append((frame, pool.submit(_score_texts, texts, *point)))
        if len(pending) >= in_flight:
            done_frame, future = pending.popleft()
            yield done_frame, future.result()
    while pending:
        done_frame, future = pending.popleft()
        yield done_frame, future.result()


def _fork_context():
    """Fork shares the loaded model with workers for free; elsewhere spawn would have to
    pickle it into each worker, which _score_texts does not support."""
    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError("parallel scoring needs the fork start method (Linux, macOS); use --jobs 1")
    return multiprocessing.get_context("fork")
