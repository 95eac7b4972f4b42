"""Model loading and registry resolution, the one place every job that uses a model goes
through (batch scoring, Spark, the trending audit and re-rank, online serving, the CLI).

A model reference is an MLflow URI (`models:/qinglang@candidate`, `models:/qinglang/3`,
`runs:/<id>/model`) or a local folder (an MLflow model folder, or a folder holding a saved
ModelBundle). Loading says which registered name and version it is.

Importing this module is cheap (no scikit-learn, no MLflow): the multi-worker HTTP
supervisor imports `ModelLoadError` from here without holding any model code."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qinglang.models.bundle import ModelBundle

_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))/?$")


class ModelLoadError(RuntimeError):
    """The model reference cannot be resolved or loaded; the message says which and why."""


@dataclass(frozen=True)
class ModelInfo:
    """Which model this is: registered name and version (`run:<id>` or `local` outside the
    registry), the training run, and the reference it was loaded from."""

    name: str
    version: str
    run_id: str | None
    source: str


@dataclass(frozen=True)
class LoadedModel:
    bundle: ModelBundle
    info: ModelInfo


STORE_FILE = "mlflow.db"  # the embedded MLflow store's file name when MLFLOW_TRACKING_URI is not set


PROJECT_MARKERS = ("pyproject.toml", ".git")


def find_store(start: Path | None = None) -> Path | None:
    """The nearest embedded store: `mlflow.db` in `start` (default: the working directory)
    or a parent folder up to the project's root (the nearest folder with pyproject.toml or
    .git), as git finds `.git`. Outside a project only `start` itself counts, so a stray
    store in /tmp or a home folder is never picked up by accident."""
    start = Path.cwd() if start is None else start
    chain = [start, *start.parents]
    root = next((i for i, folder in enumerate(chain) if any((folder / m).exists() for m in PROJECT_MARKERS)), 0)
    for folder in chain[: root + 1]:
        if (folder / STORE_FILE).is_file():
            return folder / STORE_FILE
    return None


def tracking_uri(create: bool = False) -> str:
    """MLFLOW_TRACKING_URI when set; else the nearest `mlflow.db` (`find_store`),
    so commands find the same store from anywhere inside the project. Only a command that
    writes runs (`create=True`: train, evaluate) makes a new `./mlflow.db`; a command that
    only reads never creates a store, it fails and says where it looked."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    found = find_store()
    if found is not None:
        return f"sqlite:///{found}"
    if create:
        return f"sqlite:///{Path.cwd() / STORE_FILE}"
    raise ModelLoadError(
        f"no MLflow store: MLFLOW_TRACKING_URI is not set and there is no {STORE_FILE} in {Path.cwd()} or its "
        "parent folders up to the project root. Run from the project folder that `qinglang train` used, or set "
        "MLFLOW_TRACKING_URI (e.g. sqlite:////path/to/mlflow.db); `qinglang train` prints its store"
    )


def configure_tracking(create: bool = False) -> str:
    """Point MLflow at `tracking_uri(create)` and return it. The registry follows the
    tracking store unless MLFLOW_REGISTRY_URI says otherwise (resolved by MLflow itself)."""
    import mlflow  # imported here: a server loading a local model need not pay for mlflow

    uri = tracking_uri(create)
    mlflow.set_tracking_uri(uri)
    return uri


def use_experiment(name: str) -> None:
    """Make `name` the active MLflow experiment, creating it if needed. With an embedded
    SQLite store a new experiment keeps its artifacts in `mlruns/` beside the database, not
    in whatever folder the command ran from, so the store is one self-contained folder."""
    import mlflow

    if mlflow.get_experiment_by_name(name) is None:
        uri, location = mlflow.get_tracking_uri(), None
        if uri.startswith("sqlite:///"):
            location = (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns").as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)


def load_model(model: str) -> LoadedModel:
    """The warmed-up bundle with its registered name and version. Raises ModelLoadError."""
    try:
        return _load(model)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {model!r}: {type(exc).__name__}: {exc}") from exc


def load_bundle(model: str) -> ModelBundle:
    return load_model(model).bundle


def _load(model: str) -> LoadedModel:
    from qinglang.models.bundle import BUNDLE_FILE, ModelBundle

    local = Path(model)
    if local.exists():
        if (local / "MLmodel").is_file():
            return _unregistered(_from_mlflow(str(local)), model)
        if local.is_file() or (local / BUNDLE_FILE).is_file():
            return _unregistered(ModelBundle.load(local).warm_up(), model)
        raise ModelLoadError(f"{model}: a folder with neither an MLflow model (MLmodel) nor {BUNDLE_FILE}")
    if "://" in model or model.startswith(("models:", "runs:")):
        configure_tracking()
        bundle = _from_mlflow(model)
        registered = _REGISTRY_URI.match(model)
        if registered:
            info = ModelInfo(registered["name"], _registry_version(registered), bundle.metadata.get("run_id"), model)
            return LoadedModel(bundle, info)
        return _unregistered(bundle, model)
    raise ModelLoadError(
        f"{model}: no such file or folder, and not an MLflow model URI (models:/NAME@ALIAS, runs:/RUN_ID/model)"
    )


def _unregistered(bundle: ModelBundle, source: str) -> LoadedModel:
    run_id = bundle.metadata.get("run_id")
    version = f"run:{run_id}" if run_id else "local"
    return LoadedModel(bundle, ModelInfo(bundle.metadata.get("model_name", "qinglang"), version, run_id, source))


def _registry_version(match: re.Match) -> str:
    if match["version"]:
        return match["version"]
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(match["name"], match["alias"]).version)


def _from_mlflow(uri: str) -> ModelBundle:
    """The bundle of an MLflow model (URI or local folder). A qinglang model's bundle file
    is read straight from the model's artifacts, verified against the digest the model
    recorded at training: MLflow's own pickle of the wrapper (python_model.pkl) is never
    unpickled, and loading skips about 2 s of pyfunc set-up. Anything else goes through
    `mlflow.pyfunc.load_model` and must unwrap to a qinglang model."""
    import mlflow.artifacts

    from qinglang.models.bundle import ModelBundle

    folder = Path(uri) if Path(uri).is_dir() else Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    bundle = _bundle_in_model_folder(folder)
    if bundle is not None:
        return bundle
    import mlflow.pyfunc

    wrapped = mlflow.pyfunc.load_model(str(folder)).unwrap_python_model()
    bundle = getattr(wrapped, "bundle", None)
    if not isinstance(bundle, ModelBundle):
        raise ModelLoadError(f"{uri} is an MLflow model but not a qinglang model")
    return bundle


def _bundle_in_model_folder(folder: Path) -> ModelBundle | None:
    """The verified, warmed-up bundle of a qinglang pyfunc folder; None for other models."""
    import yaml

    from qinglang.models.bundle import ModelBundle
    from qinglang.models.pyfunc import ARTIFACT_KEY, CHECKSUM_KEY

    mlmodel = folder / "MLmodel"
    if not mlmodel.is_file():
        raise ModelLoadError(f"{folder}: no MLmodel file (not an MLflow model folder)")
    flavor = (yaml.safe_load(mlmodel.read_text("utf-8")) or {}).get("flavors", {}).get("python_function", {})
    entry = (flavor.get("artifacts") or {}).get(ARTIFACT_KEY) or {}
    path = folder / entry["path"] if entry.get("path") else None
    if path is None or not path.is_file():
        return None
    expected = (flavor.get("config") or {}).get(CHECKSUM_KEY)
    return ModelBundle.load(path, expected_sha256=expected).warm_up()
