"""What a data scientist does after training: evaluate into a report logged to MLflow,
compare two models with bootstrap intervals, promote through a gate that can refuse.
Real registry, real training on the demo set (fast) and on real corpus slices."""

import json

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from qinglang.cli.app import app
from qinglang.training.config import TrainConfig
from qinglang.training.train import demo_path, train

FAST = {"model": {"cv_folds": 3, "min_positives": 6, "n_jobs": 1}, "features": {"min_df": 1}}


def run(*args):
    return CliRunner().invoke(app, list(args))


@pytest.fixture()
def registry(tracking, tmp_path, monkeypatch):
    """Two demo-set versions of `qinglang`: v1 trains every category, v2 (now @candidate)
    cannot train most of them, a regression the gate must catch."""
    monkeypatch.delenv("QINGLANG_DATA_DIR", raising=False)
    train(TrainConfig.model_validate(FAST), None, tmp_path / "v1")
    weak = {**FAST, "model": {**FAST["model"], "min_positives": 16}}
    return MlflowClient(), weak


def test_promotion_gate_accepts_refuses_and_records(registry, tmp_path):
    client, weak = registry
    demo = str(demo_path())
    first = run("promote", "--reason", "first model", "--data", demo)
    assert first.exit_code == 0, first.output
    assert "nothing to compare against" in first.output
    assert client.get_model_version_by_alias("qinglang", "champion").version == 1

    train(TrainConfig.model_validate(weak), None, tmp_path / "v2")  # registered as version 2, @candidate
    refused = run("promote", "--reason", "weekly retrain", "--data", demo, "--n-boot", "100")
    assert refused.exit_code == 1
    assert "refused to move qinglang@champion from version 1 to version 2" in refused.output
    assert "not trained in the candidate" in refused.output
    assert client.get_model_version_by_alias("qinglang", "champion").version == 1
    assert "last_promotion_refused_at" in client.get_model_version("qinglang", "2").tags

    forced = run("promote", "--reason", "accepting the loss for a test", "--force", "--data", demo, "--n-boot", "50")
    assert forced.exit_code == 0, forced.output
    tags = client.get_model_version("qinglang", "2").tags
    assert client.get_model_version_by_alias("qinglang", "champion").version == 2
    assert tags["promotion_forced"] == "true" and tags["promotion_reason"] == "accepting the loss for a test"
    assert tags["previous_champion_version"] == "1" and tags["promoted_by"] and tags["promoted_at"]
    assert json.loads(tags["promotion_regressions"])


def test_compare_prints_deltas_with_intervals(registry, tmp_path):
    client, weak = registry
    train(TrainConfig.model_validate(weak), None, tmp_path / "v2")
    out = run(
        "compare",
        "--baseline",
        "models:/qinglang/1",
        "--candidate",
        "models:/qinglang/2",
        "--data",
        str(demo_path()),
        "--n-boot",
        "200",
        "--json",
        str(tmp_path / "cmp.json"),
    )
    assert out.exit_code == 0, out.output
    assert "average_precision: candidate - baseline" in out.output and "95% interval" in out.output
    table = {r["category"]: r for r in json.loads((tmp_path / "cmp.json").read_text())}
    assert table["celebrity_hype"]["status"] == "not trained in candidate"
    assert table["celebrity_hype"]["baseline_average_precision"] > 0


def test_evaluating_on_a_fit_split_is_refused(registry, tmp_path):
    out = run("evaluate", "--model", "models:/qinglang/1", "--data", str(demo_path()), "--split", "train", "--no-log")
    assert out.exit_code == 2 and "fit splits" in out.output


def test_evaluate_writes_the_report_for_cold_test_and_logs_it(trained, tmp_path, monkeypatch, data_dir):
    """On the real corpora: the held-out COLD test rows of the e2e training run, with the
    keyword baseline beside the model, logged as an MLflow evaluation run."""
    result, uri, _ = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out_dir = tmp_path / "report"
    out = run(
        "evaluate",
        "--model",
        result.model_uri,
        "--data-dir",
        str(data_dir),
        "--source",
        "cold",
        "--split",
        "test",
        "--out",
        str(out_dir),
    )
    assert out.exit_code == 0, out.output
    report = (out_dir / "report.md").read_text("utf-8")
    assert "test split(s) of cold" in report and "keyword F1" in report and "## Top errors" in report
    run_id = out.output.split("logged: MLflow run ")[1].split()[0]
    client = MlflowClient(uri)
    logged = client.get_run(run_id)
    assert logged.data.tags["qinglang.kind"] == "evaluation" and logged.data.tags["evaluated_model"] == result.model_uri
    assert logged.data.metrics["test.cold.online_violence.f1"] > 0.5
    assert logged.data.metrics["keyword_baseline.test.cold.online_violence.f1"] > 0
    artifacts = {a.path for a in client.list_artifacts(run_id, "report")}
    assert {
        "report/report.md",
        "report/pr_curves_test.png",
        "report/reliability_test.png",
        "report/threshold_curves_test.png",
    } <= artifacts
