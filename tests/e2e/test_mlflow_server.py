"""Training against a real `mlflow server` on localhost instead of the embedded store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from qinglang.models.registry import load_bundle
from qinglang.training.train import train

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


@pytest.fixture()
def mlflow_server(tmp_path, port, running):
    mlflow_exe = Path(sys.executable).with_name("mlflow")
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(mlflow_exe),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination",
        str(tmp_path / "artifacts"),
    ]
    with running(argv, f"{url}/health", tmp_path / "server.log"):
        yield url


def test_training_logs_and_registers_on_a_tracking_server(mlflow_server, data_dir, make_config, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.chdir(tmp_path)
    result = train(make_config(data={"max_rows_per_source": 300}), data_dir)
    assert not (tmp_path / "mlflow.db").exists()  # nothing went to the embedded store
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    assert client.get_run(result.run_id).data.metrics["test.all._macro.f1"] > 0
    assert client.get_model_version_by_alias("qinglang", "candidate").run_id == result.run_id
    served = load_bundle("models:/qinglang@candidate")
    assert served.score_frame(["你这个傻逼"]).equals(result.bundle.score_frame(["你这个傻逼"]))
