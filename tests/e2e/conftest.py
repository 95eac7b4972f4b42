"""One small real training run shared by the end-to-end tests: real corpora slices, a
real embedded MLflow store, the real registry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from qinglang.training.config import TrainConfig
from qinglang.training.train import train

SLICE_CONFIG = {
    "seed": 7,
    "data": {"max_rows_per_source": 1500},
    "features": {"phonetic": {"categories": ["online_violence"]}},  # without the archive: jieba's dictionary protects
    "model": {"cv_folds": 3, "min_positives": 8, "n_jobs": 1},
}


def slice_config(**overrides) -> TrainConfig:
    raw = {**SLICE_CONFIG, **overrides}
    return TrainConfig.model_validate(raw)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, data_dir):
    """(TrainResult, tracking uri, work dir) for a model trained on real corpus slices."""
    work = tmp_path_factory.mktemp("e2e")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    old, cwd = os.environ.get("MLFLOW_TRACKING_URI"), Path.cwd()
    os.environ["MLFLOW_TRACKING_URI"] = uri
    os.chdir(work)  # MLflow puts run artifacts under ./mlruns of the working directory
    try:
        result = train(slice_config(), data_dir, work / "out")
    finally:
        os.chdir(cwd)
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    return result, uri, work


@pytest.fixture(scope="session")
def make_config():
    return slice_config


@pytest.fixture(scope="session")
def cli():
    """argv for the installed `qinglang` command."""
    exe = str(Path(sys.executable).with_name("qinglang"))
    return lambda *args: [exe, *args]


@pytest.fixture()
def port() -> int:
    """A free localhost port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def running():
    return _running


@contextmanager
def _running(
    argv: list[str], health_url: str, log: Path, env: dict | None = None, cwd: Path | None = None, timeout: float = 180
):
    """Start a server process, wait until `health_url` answers 200, stop it afterwards."""
    with open(log, "w") as log_file:
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if urllib.request.urlopen(health_url, timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{health_url} not up after {timeout} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
