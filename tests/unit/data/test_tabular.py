"""Malformed labeled files fail with the file, row and problem; lenient mode counts drops."""

import json

import pandas as pd
import pytest

from qinglang.data.errors import DataError
from qinglang.data.loaders.tabular import read_labeled_file


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def test_reads_a_canonical_csv_with_unknowns(tmp_path, taxonomy):
    path = write(tmp_path, "ok.csv", "text,split,online_violence,trivial\n你好,train,0,\n滚,test,1,0\n")
    frame, dropped = read_labeled_file(path, taxonomy)
    assert list(frame["text"]) == ["你好", "滚"]
    assert list(frame["split"]) == ["train", "test"]
    assert frame["online_violence"].tolist() == [0, 1]
    assert frame["trivial"].isna().tolist() == [True, False]
    assert frame["violence"].isna().all()  # a column the file lacks is unknown, not 0
    assert frame["source"].unique().tolist() == ["ok"]
    assert not dropped


def test_jsonl_and_parquet_are_read_too(tmp_path, taxonomy):
    rows = [{"text": "一", "vulgar": 1}, {"text": "二", "vulgar": 0}]
    jsonl = write(tmp_path, "a.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    pd.DataFrame(rows).to_parquet(tmp_path / "a.parquet")
    for path in (jsonl, tmp_path / "a.parquet"):
        frame, _ = read_labeled_file(path, taxonomy)
        assert frame["vulgar"].tolist() == [1, 0]


@pytest.mark.parametrize(
    "content, message",
    [
        ("body,vulgar\n一,1\n", "missing text column 'text'"),
        ("text,vulgar\n一,1\n二,2\n", r"row 3: column 'vulgar': value '2' is not 0, 1 or blank"),
        ("text,gambling\n一,1\n", r"unknown category column\(s\) \['gambling'\]"),
        ("text,vulgar\n一,1\n,0\n", "row 3: empty text"),
        ("text,vulgar\n一,1\n 一 ,0\n", "conflicting labels for 'vulgar'"),
        ("text,split,vulgar\n一,validation,1\n", "row 2: split 'validation'"),
        ("text,note\n一,x\n", "unknown category column"),
    ],
)
def test_malformed_files_name_file_row_and_problem(tmp_path, taxonomy, content, message):
    path = write(tmp_path, "bad.csv", content)
    with pytest.raises(DataError, match=message) as info:
        read_labeled_file(path, taxonomy)
    assert "bad.csv" in str(info.value)


def test_lenient_mode_drops_and_counts_bad_rows(tmp_path, taxonomy):
    path = write(tmp_path, "mixed.csv", "text,vulgar\n一,1\n,0\n三,7\n四,0\n")
    frame, dropped = read_labeled_file(path, taxonomy, strict=False)
    assert frame["text"].tolist() == ["一", "四"]
    assert dropped == {"empty text": 1, "column 'vulgar'": 1}
    assert len(frame) + sum(dropped.values()) == 4


def test_unreadable_files(tmp_path, taxonomy):
    with pytest.raises(DataError, match="file not found"):
        read_labeled_file(tmp_path / "nope.csv", taxonomy)
    with pytest.raises(DataError, match="unsupported file type"):
        read_labeled_file(write(tmp_path, "a.xlsx", "x"), taxonomy)
    with pytest.raises(DataError, match="cannot read as parquet"):
        read_labeled_file(write(tmp_path, "broken.parquet", "not parquet"), taxonomy)
    with pytest.raises(DataError, match="cannot read as jsonl"):
        read_labeled_file(write(tmp_path, "broken.jsonl", "{not json"), taxonomy)


def test_blank_source_cells_fall_back_to_the_file_name(tmp_path, taxonomy):
    path = write(tmp_path, "mine.csv", "text,source,vulgar\n一,,1\n二,forum,0\n")
    frame, _ = read_labeled_file(path, taxonomy)
    assert frame["source"].tolist() == ["mine", "forum"]


def test_a_bad_row_after_a_multi_line_text_is_named_by_its_real_line(tmp_path, taxonomy):
    """Issue 19: a quoted text spanning lines shifted every later row number by one."""
    from qinglang.data.errors import DataError
    from qinglang.data.loaders.tabular import read_labeled_file

    path = tmp_path / "labels.csv"
    path.write_text('text,trivial\n"第一行\n第二行",1\n好的,0\n坏的,yes\n', "utf-8")
    with pytest.raises(DataError, match=r"labels.csv, row 5: column 'trivial': value 'yes'"):
        read_labeled_file(path, taxonomy)
