"""The README's main command with no data directory: trains on the shipped demo set,
logs to ./mlflow.db and registers, offline."""

from __future__ import annotations

import os
import subprocess

import pandas as pd
import pytest
from mlflow import MlflowClient

from qinglang.data.loaders.tabular import read_labeled_file
from qinglang.training.train import demo_path

pytestmark = pytest.mark.slow


def test_demo_set_is_valid_canonical_data_covering_every_category(taxonomy):
    frame, dropped = read_labeled_file(demo_path(), taxonomy)
    assert not dropped
    for key in taxonomy.keys:
        assert (frame.loc[frame["split"] == "train", key] == 1).sum() >= 10, key
        assert (frame.loc[frame["split"] == "test", key] == 1).sum() >= 2, key


def test_train_without_data_dir_uses_the_demo_set(tmp_path, cli):
    env = {k: v for k, v in os.environ.items() if k not in ("QINGLANG_DATA_DIR", "MLFLOW_TRACKING_URI")}
    proc = subprocess.run(
        cli("train", "--out", "run"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ILLUSTRATIVE demo set" in proc.stderr
    assert "registered: models:/qinglang@candidate" in proc.stdout
    assert "ILLUSTRATIVE DEMO SET" in (tmp_path / "run" / "report.md").read_text("utf-8")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    version = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias("qinglang", "candidate")
    assert version.tags["data_mode"] == "demo"
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert set(metrics["split"]) == {"dev", "test"} or set(metrics["split"]) == {"test"}
    # The shipped config refits the model to release on train + dev once it has been evaluated.
    run = MlflowClient(tracking_uri=uri, registry_uri=uri).get_run(version.run_id)
    assert run.data.params["release.fit_splits"] == "train,dev"
    assert any(k.startswith("release.test.") for k in run.data.metrics)
    assert (tmp_path / "run" / "release_fit_summary.json").is_file()
    assert "released model" in (tmp_path / "run" / "report.md").read_text("utf-8")
