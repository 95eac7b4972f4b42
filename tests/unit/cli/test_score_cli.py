"""`qinglang score` from the command line: input encodings and its help text."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from qinglang.cli.app import app


@pytest.fixture()
def model_dir(tmp_path, demo_bundle):
    demo_bundle.save(tmp_path / "model")
    return tmp_path / "model"


def test_score_reads_a_gb18030_file_with_encoding(tmp_path, model_dir):
    """Issue 19: GBK/GB18030 input had no --encoding; UTF-8 reading fails with the row and a hint."""
    source = tmp_path / "gbk.csv"
    source.write_bytes("text\n明星官宣恋情\n今天北京下雪了\n".encode("gb18030"))
    out = CliRunner().invoke(
        app,
        [
            "score",
            "--model",
            str(model_dir),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o.csv"),
            "--jobs",
            "1",
        ],
    )
    assert out.exit_code == 2 and "row 2" in out.output and "--encoding gb18030" in out.output
    out = CliRunner().invoke(
        app,
        [
            "score",
            "--model",
            str(model_dir),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o.csv"),
            "--jobs",
            "1",
            "--encoding",
            "gb18030",
        ],
    )
    assert out.exit_code == 0, out.output
    assert pd.read_csv(tmp_path / "o.csv")["text"].tolist() == ["明星官宣恋情", "今天北京下雪了"]
    out = CliRunner().invoke(
        app,
        [
            "score",
            "--model",
            str(model_dir),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o.csv"),
            "--encoding",
            "klingon",
        ],
    )
    assert out.exit_code == 2 and "unknown text encoding 'klingon'" in out.output


def test_score_help_shows_the_spark_extra():
    """Issue 19: rich markup ate `[spark]` in `score --help`."""
    out = CliRunner().invoke(app, ["score", "--help"], env={"COLUMNS": "200"})
    assert "qinglang[spark]" in out.output


def test_score_uses_the_c_allocator_for_arrow_unless_the_user_chose_one(monkeypatch):
    """Issue 19: pyarrow's mimalloc pool kept ~25 MB of freed chunks at the peak."""
    from qinglang.cli.score import _use_system_allocator_for_arrow

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    _use_system_allocator_for_arrow()
    assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system"
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    _use_system_allocator_for_arrow()
    assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "jemalloc"
