"""Training against a real `mlflow server` on localhost instead of the embedded store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from qinglang.serve.loading import load_bundle
from qinglang.training.train import train

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path):
    port = free_port()
    mlflow_exe = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [str(mlflow_exe), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError((tmp_path / "server.log").read_text()[-2000:])
    else:
        proc.terminate()
        raise RuntimeError("mlflow server did not come up in 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_training_logs_and_registers_on_a_tracking_server(mlflow_server, data_dir, make_config, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.chdir(tmp_path)
    result = train(make_config(data={"max_rows_per_source": 300}), data_dir)
    assert not (tmp_path / "mlflow.db").exists()                 # nothing went to the embedded store
    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    assert client.get_run(result.run_id).data.metrics["test.all._macro.f1"] > 0
    assert client.get_model_version_by_alias("qinglang", "candidate").run_id == result.run_id
    served = load_bundle("models:/qinglang@candidate")
    assert served.score_frame(["你这个傻逼"]).equals(result.bundle.score_frame(["你这个傻逼"]))
