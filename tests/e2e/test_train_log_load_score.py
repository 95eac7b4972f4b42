"""train → log → register → load in a fresh process → score / evaluate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from qinglang.training.train import train

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


def env_with(uri: str) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": uri}


def test_run_records_provenance_metrics_and_artifacts(trained):
    result, uri, _ = trained
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(result.run_id)
    assert run.data.params["model.C"] == "4.0" and run.data.params["seed"] == "7"
    assert int(run.data.params["data.rows.cold"]) > 0
    for tag in ("git_commit", "data.sha256", "version.scikit-learn", "version.jieba", "version.mlflow", "python"):
        assert run.data.tags[tag]
    assert run.data.tags["category.violence"].startswith("not trained")
    metrics = run.data.metrics
    assert 0 < metrics["test.cold.online_violence.accuracy"] <= 1
    assert "test.all._macro.f1" in metrics and "dev.weibo_trending_labeled.celebrity_hype.average_precision" in metrics
    artifacts = {a.path for d in ("report", "evaluation") for a in client.list_artifacts(result.run_id, d)}
    assert {
        "report/report.md",
        "report/pr_curves_test.png",
        "evaluation/metrics.json",
        "evaluation/data_fingerprint.json",
        "evaluation/data_report.json",
        "evaluation/config.yaml",
    } <= artifacts
    version = client.get_model_version_by_alias("qinglang", "candidate")
    assert version.run_id == result.run_id


def test_every_category_with_test_positives_has_a_test_metric(trained):
    result, _, _ = trained
    table, keys = result.dataset.table, result.bundle.categories
    held_out = table[table["split"] == "test"]
    reported = result.results[(result.results["split"] == "test") & (result.results["source"] == "all")]
    for key in keys:
        if (held_out[key] == 1).any():
            row = reported[reported["category"] == key].iloc[0]
            assert row["status"] in ("ok", "not trained"), key
            if row["status"] == "ok":
                assert not np.isnan(row["f1"])


def test_registered_model_loads_in_a_fresh_process_and_matches(trained):
    result, uri, work = trained
    texts = ["你这个傻逼滚出去", "明天全国大部分地区有雨", "某顶流明星机场私服曝光"]
    code = (
        "import json, sys, mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model('models:/qinglang@candidate')\n"
        "out = m.predict(pd.DataFrame({'text': json.loads(sys.argv[1])}))\n"
        "review = m.predict(pd.DataFrame({'text': json.loads(sys.argv[1])}), params={'profile': 'review'})\n"
        "comment = m.predict(pd.DataFrame({'text': json.loads(sys.argv[1])}), params={'kind': 'comment'})\n"
        "print(comment.to_json(orient='records'))\n"
        "print(review.to_json(orient='records'))\n"
        "print(out.to_json(orient='records'))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(texts)],
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    fresh = pd.DataFrame(json.loads(proc.stdout.strip().splitlines()[-1]))
    local = result.bundle.score_frame(texts)
    for key in result.bundle.categories:
        np.testing.assert_allclose(
            fresh[f"score_{key}"].astype(float), local[f"score_{key}"], rtol=1e-6, equal_nan=True
        )
        assert fresh[f"flag_{key}"].tolist() == local[f"flag_{key}"].tolist()
    review = pd.DataFrame(
        json.loads(proc.stdout.strip().splitlines()[-2])
    )  # the operating point travels as a pyfunc param
    local_review = result.bundle.score_frame(texts, "review")
    assert review.filter(like="flag_").to_numpy().tolist() == local_review.filter(like="flag_").to_numpy().tolist()
    comment = pd.DataFrame(json.loads(proc.stdout.strip().splitlines()[-3]))  # so does the kind of text
    local_comment = result.bundle.score_frame(texts, kind="comment")
    assert comment["score_celebrity_hype"].isna().all() and local_comment["score_celebrity_hype"].isna().all()
    np.testing.assert_allclose(
        comment.filter(like="score_").astype(float), local_comment.filter(like="score_"), rtol=1e-6, equal_nan=True
    )


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_score_command_adds_score_and_flag_columns(trained, cli, suffix):
    result, uri, work = trained
    src = work / f"in_{suffix}.csv"
    pd.DataFrame({"id": [1, 2, 3], "text": ["你这个傻逼", "今天天气很好", "喝醋能治新冠"]}).to_csv(src, index=False)
    out = work / f"out.{suffix}"
    proc = subprocess.run(
        cli("score", "--model", "models:/qinglang@candidate", "--input", str(src), "--output", str(out)),
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    frame = {"csv": pd.read_csv, "parquet": pd.read_parquet, "jsonl": lambda p: pd.read_json(p, lines=True)}[suffix](
        out
    )
    assert frame["id"].astype(str).tolist() == ["1", "2", "3"]  # input columns kept as read
    for key in result.bundle.categories:
        assert set(frame[f"flag_{key}"]) <= {0, 1}
        assert frame[f"score_{key}"].dropna().between(0, 1).all()
    assert frame.loc[0, "score_online_violence"] > frame.loc[1, "score_online_violence"]


def test_score_command_scores_texts_as_the_kind_given(trained, cli):
    result, uri, work = trained
    src = work / "kinds.csv"
    texts = ["你这个傻逼", "某顶流明星机场私服曝光"]
    pd.DataFrame({"text": texts}).to_csv(src, index=False)
    out = work / "kinds_out.csv"
    proc = subprocess.run(
        cli(
            "score",
            "--model",
            "models:/qinglang@candidate",
            "--input",
            str(src),
            "--output",
            str(out),
            "--kind",
            "comment",
        ),
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    frame = pd.read_csv(out)
    assert frame["score_celebrity_hype"].isna().all()  # hype does not apply to comments
    expected = result.bundle.score_frame(texts, kind="comment")
    np.testing.assert_allclose(frame["score_online_violence"], expected["score_online_violence"], rtol=1e-6)


def test_score_command_errors_are_clear_and_leave_no_output(trained, cli):
    _, uri, work = trained
    src = work / "no_text.csv"
    src.write_text("body\n你好\n", "utf-8")
    out = work / "never.csv"
    proc = subprocess.run(
        cli("score", "--model", "models:/qinglang@candidate", "--input", str(src), "--output", str(out)),
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "no text column 'text'" in proc.stderr
    assert not out.exists() and not list(work.glob(".never.csv.*"))
    proc = subprocess.run(
        cli("score", "--model", str(work / "missing-model"), "--input", str(src), "--output", str(out)),
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr


def test_evaluate_command_on_a_labeled_file_and_a_local_model_dir(trained, cli):
    result, uri, work = trained
    table = result.dataset.table
    sample = table[(table["split"] == "test") & (table["source"] == "cold")].head(200)[["text", "online_violence"]]
    data = work / "labeled.csv"
    sample.to_csv(data, index=False)
    model_dir = work / "local-model"
    mlflow.set_tracking_uri(uri)
    mlflow.artifacts.download_artifacts(artifact_uri=f"{result.model_uri}", dst_path=str(model_dir))
    out = work / "metrics.json"
    proc = subprocess.run(
        cli("evaluate", "--model", str(model_dir), "--data", str(data), "--json", str(out)),
        env=env_with(uri),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = {r["category"]: r for r in json.loads(out.read_text("utf-8"))}
    y = sample["online_violence"].astype(int).to_numpy()
    flags = result.bundle.score_frame(sample["text"])["flag_online_violence"].to_numpy()
    assert metrics["online_violence"]["accuracy"] == pytest.approx((flags == y).mean())
    assert metrics["online_violence"]["support"] == int(y.sum())


def test_same_config_and_seed_give_identical_metrics(data_dir, tracking, make_config):
    cfg = make_config(data={"max_rows_per_source": 400}, mlflow={"experiment": "repro"})
    first = train(cfg, data_dir, register=False)
    second = train(cfg, data_dir, register=False)
    pd.testing.assert_frame_equal(first.results, second.results)
    np.testing.assert_array_equal(first.bundle.classifier.coef_, second.bundle.classifier.coef_)
    assert first.dataset.fingerprint(first.bundle.categories) == second.dataset.fingerprint(second.bundle.categories)


def test_logged_model_carries_its_code_and_loads_without_qinglang_installed(trained):
    _, uri, work = trained
    code = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
        "sys.path_hooks[:] = [h for h in sys.path_hooks if 'editable' not in repr(h).lower()]\n"
        "sys.path[:] = [p for p in sys.path if '__editable__' not in p]\n"
        "sys.path_importer_cache.clear()\n"
        "try:\n"
        "    import qinglang.models\n"
        "    raise SystemExit('qinglang should be hidden')\n"
        "except ImportError:\n"
        "    pass\n"
        "import mlflow, pandas as pd\n"
        "m = mlflow.pyfunc.load_model('models:/qinglang@candidate')\n"
        "import qinglang.models.bundle as b\n"
        "assert '/artifacts/code/qinglang/' in b.__file__, b.__file__\n"
        "print(m.predict(pd.DataFrame({'text': ['你这个傻逼']}))['score_online_violence'].iloc[0])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env_with(uri), cwd=work, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 0 <= float(proc.stdout.strip().splitlines()[-1]) <= 1
