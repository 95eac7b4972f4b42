"""Weibo's hot-search history (`weibo_hot_history/`): one row per title per day with
Weibo's own topic tag (社会, 明星, 综艺, 星座 …). The tag says what a topic is about, not
whether it is hype or trivial, so it is weak evidence: training uses it only as weak labels
(see training.config WeakLabels), never as a label any metric is computed on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.loaders.base import require_columns, require_file
from qinglang.data.loaders.rows import read_delimited

HOT_HISTORY_FOLDER = "weibo_hot_history"
HOT_HISTORY_FILE = "weibo_hot_history_2024.csv"
NO_TAG = ("", "暂无")


def hot_history_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / HOT_HISTORY_FOLDER / HOT_HISTORY_FILE


def read_hot_history(data_dir: str | Path) -> pd.DataFrame:
    """Columns day (datetime64), title, tag: the first part of Weibo's tag (明星-内地 → 明星),
    None where Weibo gave none. A line with too few or too many fields, bytes that are not
    UTF-8 or a bad day value is an error with its line. The tag is Weibo's open vocabulary,
    not a label set of ours, so no tag value is refused here; the weak-label rules name the
    tags they use."""
    path = require_file(hot_history_path(data_dir))
    table = read_delimited(path, encoding="utf-8")
    raw = table.frame(empty_as_missing=False)
    require_columns(raw, ["day", "title", "category"], path)
    day = pd.to_datetime(raw["day"], format="%Y-%m-%d", errors="coerce")
    if day.isna().any():
        first = int(day.isna().to_numpy().argmax())
        raise DataError(f"day {raw['day'].iat[first]!r} is not YYYY-MM-DD", file=str(path), row=table.lines[first])
    tag = raw["category"].str.strip().str.split("-").str[0]
    frame = pd.DataFrame({"day": day, "title": raw["title"].str.strip(), "tag": tag.where(~tag.isin(NO_TAG), None)})
    return frame[frame["title"] != ""].reset_index(drop=True)
