"""train → register → serve over HTTP (`qinglang serve`, `mlflow models serve`) → call.
Real uvicorn processes on localhost, the model resolved through the registry alias."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from qinglang.serve.predictor import Predictor

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

TEXTS = [
    "你这个傻逼滚出去",
    "明天全国大部分地区有雨",
    "某顶流明星机场私服曝光",
    "喝醋能治新冠，转发给家人",
    "我不想活了",
]
MODEL = "models:/qinglang@candidate"


def call(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict | str]:
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw, status = response.read().decode(), response.status
    except urllib.error.HTTPError as err:
        raw, status = err.read().decode(), err.code
    try:
        return status, json.loads(raw)
    except json.JSONDecodeError:
        return status, raw


@pytest.fixture(scope="module")
def served_env(trained):
    result, uri, work = trained
    return {**os.environ, "MLFLOW_TRACKING_URI": uri}, work, result


@pytest.fixture(scope="module")
def in_process(served_env):
    env, work, _ = served_env
    old, cwd = os.environ.get("MLFLOW_TRACKING_URI"), Path.cwd()
    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    os.chdir(work)
    try:
        return Predictor.load(MODEL)
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old


def test_http_service_answers_like_the_in_process_api(served_env, in_process, cli, port, running, tmp_path):
    env, work, result = served_env
    url = f"http://127.0.0.1:{port}"
    with running(
        cli("serve", "--model", MODEL, "--port", str(port)), f"{url}/readyz", tmp_path / "serve.log", env=env, cwd=work
    ):
        status, body = call(f"{url}/v1/moderate", {"items": [{"id": str(i), "text": t} for i, t in enumerate(TEXTS)]})
        assert status == 200
        assert body["model"] == {"name": "qinglang", "version": result.registered_version}
        for item, pred in zip(body["items"], in_process.predict(TEXTS), strict=True):
            assert item["scores"] == pred.scores  # same floats, bit for bit
            assert [f["category"] for f in item["flagged"]] == [f.category for f in pred.flagged]
        status, ready = call(f"{url}/readyz")
        assert status == 200 and ready["model"]["version"] == result.registered_version
        status, bad = call(f"{url}/v1/moderate", {"items": [{"id": 1, "text": "x"}]})
        assert status == 422 and bad["error"]["code"] == "invalid_request"
        with urllib.request.urlopen(f"{url}/metrics") as response:
            assert "qinglang_items_scored_total 5.0" in response.read().decode()


def test_several_workers_with_an_api_key_share_metrics(served_env, cli, port, running, tmp_path):
    env, work, _ = served_env
    url = f"http://127.0.0.1:{port}"
    env = {**env, "QINGLANG_API_KEY": "k3y"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with running(
        cli("serve", "--model", MODEL, "--port", str(port), "--workers", "2"),
        f"{url}/readyz",
        tmp_path / "serve.log",
        env=env,
        cwd=work,
    ):
        one = {"items": [{"id": "1", "text": TEXTS[0]}]}
        assert call(f"{url}/v1/moderate", one)[0] == 401
        assert call(f"{url}/v1/moderate", one, token="wrong")[0] == 401
        answers = [call(f"{url}/v1/moderate", one, token="k3y") for _ in range(20)]
        assert {status for status, _ in answers} == {200}
        assert len({json.dumps(body, sort_keys=True) for _, body in answers}) == 1  # every worker answers the same
        assert call(f"{url}/metrics")[0] == 401  # the key guards the metrics too
        status, text = call(f"{url}/metrics", token="k3y")
        assert status == 200
        assert "qinglang_items_scored_total 20.0" in text  # summed over both workers


def test_mlflow_models_serve_gives_the_same_scores(served_env, in_process, port, running, tmp_path):
    env, work, _ = served_env
    mlflow_exe = str(Path(sys.executable).with_name("mlflow"))
    env = {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    }  # it execs `uvicorn` from PATH
    url = f"http://127.0.0.1:{port}"
    argv = [
        mlflow_exe,
        "models",
        "serve",
        "-m",
        MODEL,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with running(argv, f"{url}/ping", tmp_path / "mlflow-serve.log", env=env, cwd=work, timeout=300):
        status, body = call(
            f"{url}/invocations", {"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}}
        )
    assert status == 200, body
    predictions = body["predictions"]
    proba, flags = in_process.scores(TEXTS)
    for j, key in enumerate(in_process.categories):
        served = np.array(
            [np.nan if p[f"score_{key}"] is None else p[f"score_{key}"] for p in predictions], dtype=float
        )
        np.testing.assert_allclose(served, proba[:, j], rtol=1e-9, equal_nan=True)
        assert [p[f"flag_{key}"] for p in predictions] == flags[:, j].tolist()


def test_serve_refuses_a_broken_model_reference_before_binding(cli, port, tmp_path):
    proc = subprocess.run(
        cli("serve", "--model", str(tmp_path / "no-model"), "--port", str(port)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
