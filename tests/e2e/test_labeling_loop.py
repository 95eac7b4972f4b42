"""The labeling loop end to end, as the README tells a user to run it: select a batch from
the real trending archive for a category that has no labels (wealth_flaunting, by seed
terms), two labelers answer it, agree, export, and `qinglang train` reads the export with
no conversion and now trains the category.

The two labelers are stand-ins (a person cannot take part in CI): they mark a title
positive when it names a wealth display term, and the second one also marks one more
pattern, so they disagree on some items. What is tested is the loop, not their judgment."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd
import pytest
import yaml

from qinglang.labeling.store import Answer, LabelStore

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

SEEDS = "豪车,名表,炫富,奢侈品,爱马仕,豪宅"
# Not 名表 alone: 金鸡奖提名表彰 (an award nomination) contains it. A seed hit is a candidate.
AMY_TERMS = ("豪车", "炫富", "奢侈品", "爱马仕", "豪宅", "劳力士", "超跑", "百万")
BOB_TERMS = (*AMY_TERMS, "天价", "黄金")


def _run(argv, cwd):
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_select_label_agree_export_retrain(trained, data_dir, cli, tmp_path, taxonomy):
    result, uri, work = trained
    model = str(result.out_dir / "bundle")
    assert not result.bundle.classifier.category_fits_["wealth_flaunting"].trained  # no labels anywhere
    batch = tmp_path / "batch.csv"
    out = _run(
        cli(
            "label",
            "select",
            "--pool",
            str(data_dir / "weibo_trending" / "raw"),
            "--from",
            "2024-01-01",
            "--model",
            model,
            "--n",
            "120",
            "--strategy",
            "seed-terms",
            "--category",
            "wealth_flaunting",
            "--seeds",
            SEEDS,
            "--out",
            str(batch),
            "--data-dir",
            str(data_dir),
        ),
        tmp_path,
    )
    assert "random 24" in out and "pool texts contain a seed term" in out
    rows = pd.read_csv(batch)
    assert len(rows) == 120 and set(rows["selected_by"]) == {"seed-terms", "random"}
    db = tmp_path / "labels.sqlite"
    store = LabelStore(db, taxonomy)
    store.add_batch(rows, "batch")
    for item, text in zip(rows["item_id"], rows["text"], strict=True):
        store.answer(Answer(item, "amy", ("wealth_flaunting",) if any(t in text for t in AMY_TERMS) else ()))
        store.answer(Answer(item, "bob", ("wealth_flaunting",) if any(t in text for t in BOB_TERMS) else ()))
    agree = _run(cli("label", "agree", "--db", str(db)), tmp_path)
    assert "wealth_flaunting" in agree
    export = tmp_path / "reviewed.csv"
    _run(cli("label", "export", "--db", str(db), "--out", str(export), "--source", "reviewed"), tmp_path)
    exported = pd.read_csv(export)
    positives = int((exported["wealth_flaunting"] == 1).sum())
    assert positives >= 10, f"the stand-in labelers found only {positives} positives"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "seed": 7,
                "data": {
                    "corpora": ["weibo_trending_labeled", "thucnews_titles"],
                    "max_rows_per_source": 600,
                    "files": [{"path": str(export), "source": "reviewed"}],
                },
                "model": {"cv_folds": 3, "min_positives": 8, "n_jobs": 1},
            },
            allow_unicode=True,
        ),
        "utf-8",
    )
    run_dir = tmp_path / "run"
    env_cwd = tmp_path  # MLflow's store and artifacts stay in the test's folder
    subprocess.run(
        cli("train", "--config", str(config), "--data-dir", str(data_dir), "--out", str(run_dir), "--no-register"),
        check=True,
        cwd=env_cwd,
        capture_output=True,
        timeout=900,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"},
    )
    report = json.loads((run_dir / "data_report.json").read_text("utf-8"))
    assert report["sources"]["reviewed"]["rows_kept"] == len(exported)
    fits = {f["key"]: f for f in json.loads((run_dir / "fit_summary.json").read_text("utf-8"))}
    assert fits["wealth_flaunting"]["n_positive"] > 0
    assert fits["wealth_flaunting"]["trained"], fits["wealth_flaunting"]["reason"]
