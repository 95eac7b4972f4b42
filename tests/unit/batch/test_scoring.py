"""Batch scoring: streamed in chunks, parallel = sequential, atomic output, loud errors."""

import numpy as np
import pandas as pd
import pytest

from qinglang.batch import scoring
from qinglang.batch.scoring import ScoreRequest, score_file
from qinglang.data.errors import DataError

TEXTS = [
    "顶流小A机场私服又火了",
    "你这个傻逼滚出去",
    "明天全国大部分地区有雨",
    "喝醋能治新冠，转发给家人",
    "家里有矿晒豪车名表",
    "今天的晚饭吃什么",
]
READ = {
    "csv": pd.read_csv,
    "tsv": lambda p: pd.read_csv(p, sep="\t"),
    "parquet": pd.read_parquet,
    "jsonl": lambda p: pd.read_json(p, lines=True),
}


def write(frame: pd.DataFrame, path):
    {
        "csv": lambda: frame.to_csv(path, index=False),
        "tsv": lambda: frame.to_csv(path, index=False, sep="\t"),
        "parquet": lambda: frame.to_parquet(path, index=False),
        "jsonl": lambda: frame.to_json(path, orient="records", lines=True, force_ascii=False),
    }[path.suffix[1:]]()


@pytest.fixture()
def table():
    n = 103
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "text": [f"{TEXTS[i % len(TEXTS)]}{i}" for i in range(n)],
            "extra": list(range(n)),
        }
    )


@pytest.mark.parametrize(
    "fmt_in, fmt_out", [("csv", "parquet"), ("parquet", "jsonl"), ("jsonl", "csv"), ("tsv", "tsv")]
)
@pytest.mark.parametrize("jobs", [1, 2])
def test_chunked_output_equals_one_shot_scoring_in_input_order(demo_bundle, table, tmp_path, fmt_in, fmt_out, jobs):
    src, dst = tmp_path / f"in.{fmt_in}", tmp_path / f"out.{fmt_out}"
    write(table, src)
    summary = score_file(demo_bundle, ScoreRequest(src, dst, progress=False, jobs=jobs, chunk_rows=10))
    assert (summary.rows, summary.chunks, summary.jobs) == (103, 11, jobs)
    out = READ[fmt_out](dst)
    assert out["id"].tolist() == table["id"].tolist() and out["extra"].astype(int).tolist() == table["extra"].tolist()
    expected = demo_bundle.score_frame(table["text"])
    for column in demo_bundle.score_columns():
        pd.testing.assert_series_equal(
            out[column].astype(float), expected[column].astype(float), check_names=False, rtol=1e-6
        )
    assert not list(tmp_path.glob(".out.*"))


def test_missing_text_names_the_file_row_and_leaves_no_output(demo_bundle, table, tmp_path):
    table.loc[57, "text"] = None
    src, dst = tmp_path / "in.parquet", tmp_path / "out.csv"
    write(table, src)
    dst.write_text("previous result\n", "utf-8")
    with pytest.raises(DataError, match=r"row 58.*empty in 1 row"):
        score_file(demo_bundle, ScoreRequest(src, dst, progress=False, jobs=2, chunk_rows=10))
    assert dst.read_text("utf-8") == "previous result\n"  # earlier output untouched
    assert not list(tmp_path.glob(".out.csv.*"))


def test_an_interrupt_mid_stream_leaves_no_partial_file(demo_bundle, table, tmp_path, monkeypatch):
    src, dst = tmp_path / "in.csv", tmp_path / "out.parquet"
    write(table, src)
    real = scoring._AtomicTableWriter.write
    calls = {"n": 0}

    def interrupted(self, frame):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real(self, frame)

    monkeypatch.setattr(scoring._AtomicTableWriter, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        score_file(demo_bundle, ScoreRequest(src, dst, progress=False, jobs=2, chunk_rows=10))
    assert not dst.exists() and not list(tmp_path.glob(".out.parquet.*"))


def test_refusals(demo_bundle, table, tmp_path):
    src = tmp_path / "in.csv"
    write(table, src)
    with pytest.raises(DataError, match="no text column 'body'"):
        score_file(demo_bundle, ScoreRequest(src, tmp_path / "o.csv", text_column="body", progress=False, jobs=1))
    with pytest.raises(DataError, match="overwrite the input"):
        score_file(demo_bundle, ScoreRequest(src, src, progress=False))
    with pytest.raises(DataError, match="unsupported file type"):
        score_file(demo_bundle, ScoreRequest(src, tmp_path / "o.xlsx", progress=False))
    scored = tmp_path / "scored.csv"
    score_file(demo_bundle, ScoreRequest(src, scored, progress=False, jobs=1))
    with pytest.raises(DataError, match="already has output columns"):
        score_file(demo_bundle, ScoreRequest(scored, tmp_path / "again.csv", progress=False, jobs=1))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="cannot read as parquet"):
        score_file(demo_bundle, ScoreRequest(broken, tmp_path / "o.csv", progress=False, jobs=1))
    assert not (tmp_path / "o.csv").exists()


def test_an_empty_input_gives_an_empty_output_with_the_score_columns(demo_bundle, tmp_path):
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("text\n", "utf-8")
    assert score_file(demo_bundle, ScoreRequest(src, dst, progress=False, jobs=2)).rows == 0
    assert list(pd.read_csv(dst).columns) == ["text", *demo_bundle.score_columns()]


def test_the_operating_point_reaches_the_workers(demo_bundle, table, tmp_path):
    src = tmp_path / "in.csv"
    write(table, src)
    score_file(
        demo_bundle, ScoreRequest(src, tmp_path / "out.csv", progress=False, jobs=2, chunk_rows=10, profile="review")
    )
    out = pd.read_csv(tmp_path / "out.csv")
    expected = demo_bundle.score_frame(table["text"], "review")
    assert out.filter(like="flag_").to_numpy().tolist() == expected.filter(like="flag_").to_numpy().tolist()
    with pytest.raises(ValueError, match="unknown threshold profile"):
        score_file(demo_bundle, ScoreRequest(src, tmp_path / "bad.csv", progress=False, jobs=1, profile="strict"))
    assert not (tmp_path / "bad.csv").exists()


def test_the_kind_travels_to_every_worker_and_an_unknown_kind_fails_before_work(demo_bundle, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"text": ["某顶流明星机场私服曝光", "你这个傻逼"] * 15}).to_csv(src, index=False)
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}.csv"
        score_file(demo_bundle, ScoreRequest(src, out, kind="comment", progress=False, jobs=jobs, chunk_rows=10))
        scored = pd.read_csv(out)
        assert scored["score_celebrity_hype"].isna().all() and (scored["flag_celebrity_hype"] == 0).all()
        expected = demo_bundle.score_frame(scored["text"].tolist(), kind="comment")
        np.testing.assert_allclose(scored["score_online_violence"], expected["score_online_violence"], rtol=1e-9)
    with pytest.raises(ValueError, match="unknown text kind"):
        score_file(demo_bundle, ScoreRequest(src, tmp_path / "bad.csv", kind="tweet", progress=False, jobs=1))
    assert not (tmp_path / "bad.csv").exists()
