"""Issue 19: the MLflow store is found the same way from anywhere in the project, and a
command that only reads never creates one (it used to leave a stray, empty mlflow.db)."""

from __future__ import annotations

import pytest

from qinglang.models.registry import ModelLoadError, load_model, tracking_uri


@pytest.fixture()
def no_env(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


def test_the_environment_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.chdir(tmp_path)
    assert tracking_uri() == "http://mlflow.internal:5000"


def test_the_nearest_store_is_found_from_a_subfolder(no_env, monkeypatch, tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"")
    (tmp_path / "pyproject.toml").write_text("")  # the project's root: the search stops here
    deep = tmp_path / "notebooks" / "scratch"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_reading_without_a_store_fails_and_creates_nothing(no_env, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError, match="no MLflow store.*MLFLOW_TRACKING_URI"):
        tracking_uri()
    with pytest.raises(ModelLoadError, match="no MLflow store"):
        load_model("models:/qinglang@candidate")
    assert list(tmp_path.iterdir()) == []


def test_only_a_writer_creates_a_store_here(no_env, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert tracking_uri(create=True) == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_a_store_outside_the_project_is_not_picked_up(no_env, monkeypatch, tmp_path):
    (tmp_path / "mlflow.db").write_bytes(b"")  # e.g. a stray store in /tmp
    project = tmp_path / "work" / "project"
    (project / "sub").mkdir(parents=True)
    (project / ".git").mkdir()
    monkeypatch.chdir(project / "sub")
    with pytest.raises(ModelLoadError, match="no MLflow store"):
        tracking_uri()


def test_a_new_experiment_keeps_its_artifacts_beside_the_database(no_env, monkeypatch, tmp_path):
    import mlflow

    from qinglang.models.registry import configure_tracking, use_experiment

    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    configure_tracking()
    use_experiment("exp")
    assert mlflow.get_experiment_by_name("exp").artifact_location == (store / "mlruns").as_uri()
    use_experiment("exp")  # an existing experiment is used as it is
