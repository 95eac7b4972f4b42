"""Shared fixtures. Tests that need the public corpora read them from QINGLANG_DATA_DIR
(default ../shared/datasets). Under CI a missing corpus folder is a failure, not a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
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


@pytest.fixture(scope="session")
def demo_bundle(taxonomy):
    """A real ModelBundle fitted in about a second on the shipped illustrative demo set.
    Its wealth_flaunting labels are hidden, so that category is untrained, as in the
    corpus-trained model."""
    from qinglang.data.loaders.tabular import read_labeled_file
    from qinglang.models.bundle import ModelBundle
    from qinglang.training.config import TrainConfig
    from qinglang.training.train import build_classifier, demo_path

    frame, _ = read_labeled_file(demo_path(), taxonomy)
    frame["wealth_flaunting"] = pd.array([pd.NA] * len(frame), dtype="Int8")
    config = TrainConfig.model_validate(
        {"model": {"cv_folds": 3, "min_positives": 6, "n_jobs": 1}, "features": {"min_df": 1}}
    )
    classifier = build_classifier(config, taxonomy).fit(frame["text"], frame[taxonomy.keys])
    return ModelBundle(classifier, taxonomy, {"model_name": "qinglang", "run_id": "demo0000"})
