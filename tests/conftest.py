"""Shared fixtures. Tests that need the public corpora read them from QINGLANG_DATA_DIR
(default ../shared/datasets). Under CI a missing corpus folder is a failure, not a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qinglang.data.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]


def corpora_dir() -> Path | None:
    path = Path(os.environ.get("QINGLANG_DATA_DIR") or REPO.parent / "shared" / "datasets")
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = corpora_dir()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must provide the corpora: set QINGLANG_DATA_DIR (../shared/datasets)")
        pytest.skip("public corpora not found; set QINGLANG_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def taxonomy():
    return load_taxonomy()


@pytest.fixture()
def tracking(tmp_path, monkeypatch):
    """An isolated embedded MLflow store per test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri
