"""Score a table file: every input column kept, `score_K` and `flag_K` added per category.
The output appears only when complete (written to a temporary file, then renamed)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from qinglang.data.errors import DataError
from qinglang.data.loaders.tabular import read_table, table_format
from qinglang.models.bundle import ModelBundle


def score_frame_in_chunks(bundle: ModelBundle, texts: pd.Series, chunk_size: int = 5000, progress: bool = False) -> pd.DataFrame:
    parts = []
    for start in tqdm(range(0, len(texts), chunk_size), disable=not progress, unit="chunk", desc="scoring"):
        parts.append(bundle.score_frame(texts.iloc[start:start + chunk_size]))
    return pd.concat(parts, ignore_index=True) if parts else bundle.score_frame([])


def texts_of(frame: pd.DataFrame, column: str, origin: str) -> pd.Series:
    """The text column as str; a missing value is an error naming the row, not a silent skip."""
    if column not in frame.columns:
        raise DataError(f"no text column {column!r}; found {list(frame.columns)} (use --text-column)", file=origin)
    col = frame[column]
    missing = col.isna().to_numpy()
    if missing.any():
        raise DataError(f"column {column!r} is empty in {int(missing.sum())} row(s)", file=origin, row=int(np.argmax(missing)) + 1)
    return col.astype(str)


def write_table_atomic(frame: pd.DataFrame, path: Path) -> None:
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        if fmt in ("csv", "tsv"):
            frame.to_csv(tmp, index=False, sep="\t" if fmt == "tsv" else ",")
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def score_file(bundle: ModelBundle, input_path: Path, output_path: Path, text_column: str = "text", progress: bool = True) -> int:
    table_format(output_path)  # refuse an unsupported output type before any work
    frame = read_table(input_path)
    texts = texts_of(frame, text_column, str(input_path))
    clash = [c for c in bundle.score_columns() if c in frame.columns]
    if clash:
        raise DataError(f"input already has output columns {clash}", file=str(input_path))
    scores = score_frame_in_chunks(bundle, texts, progress=progress)
    write_table_atomic(pd.concat([frame.reset_index(drop=True), scores], axis=1), output_path)
    return len(frame)
