"""Spark scoring (`qinglang score --engine spark`) on a local Spark (local[2]) over real
archive titles and corpus texts: the same scores and flags as in-process scoring, every
input column kept, and bad input refused before a Spark job runs."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from qinglang.data.loaders import ARCHIVE_FOLDER, load_trending_archive

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


def env_with(uri: str) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": uri}


@pytest.fixture(scope="module")
def texts(data_dir, trained) -> list[str]:
    titles = load_trending_archive(data_dir / ARCHIVE_FOLDER).titles["title"].head(600).tolist()
    table = trained[0].dataset.table
    comments = table[table["source"].isin(["cold", "chineseharm"])]["text"].head(200).tolist()
    return titles + comments + ["你真让人饿新", "你 这 个 傻 逼"]


def test_spark_scores_equal_in_process_scores(trained, cli, texts):
    result, uri, work = trained
    src, out = work / "spark_in.parquet", work / "spark_out"
    pd.DataFrame({"post_id": np.arange(len(texts)) * 7, "body": texts, "lang": "zh"}).to_parquet(src, index=False)
    argv = cli(
        "score",
        "--engine",
        "spark",
        "--spark-master",
        "local[2]",
        "--model",
        result.model_uri,
        "--input",
        str(src),
        "--output",
        str(out),
        "--text-column",
        "body",
        "--profile",
        "review",
        "--kind",
        "comment",
    )
    proc = subprocess.run(argv, env=env_with(uri), cwd=work, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / "_SUCCESS").is_file()
    frame = pd.read_parquet(out).sort_values("post_id").reset_index(drop=True)
    assert frame["post_id"].tolist() == list(np.arange(len(texts)) * 7)  # every row, once
    assert frame["body"].tolist() == texts and set(frame["lang"]) == {"zh"}  # input columns kept
    local = result.bundle.score_frame(texts, "review", kind="comment")
    assert frame["score_celebrity_hype"].isna().all()  # the kind travels to the executors: no hype on comments
    for key in result.bundle.categories:
        np.testing.assert_allclose(
            frame[f"score_{key}"].astype(float), local[f"score_{key}"], rtol=1e-9, atol=1e-12, equal_nan=True
        )
        assert frame[f"flag_{key}"].tolist() == local[f"flag_{key}"].tolist()


def test_spark_refuses_empty_texts_and_a_bare_bundle_folder(trained, cli):
    result, uri, work = trained
    src = work / "spark_gaps.parquet"
    pd.DataFrame({"text": ["你好", None, "再见"]}).to_parquet(src, index=False)
    proc = subprocess.run(
        cli(
            "score",
            "--engine",
            "spark",
            "--spark-master",
            "local[1]",
            "--model",
            result.model_uri,
            "--input",
            str(src),
            "--output",
            str(work / "never"),
        ),
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2 and "empty in 1 row(s)" in proc.stderr
    assert not (work / "never").exists()
    bundle_dir = result.out_dir / "bundle"
    proc = subprocess.run(
        cli(
            "score",
            "--engine",
            "spark",
            "--model",
            str(bundle_dir),
            "--input",
            str(src),
            "--output",
            str(work / "never"),
        ),
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 2 and "not an MLflow model folder" in proc.stderr
