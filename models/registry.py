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


def configure_tracking() -> str:
    """MLFLOW_TRACKING_URI when set, else an embedded SQLite store in the working directory.
    The registry follows the tracking store unless MLFLOW_REGISTRY_URI says otherwise
    (resolved by MLflow itself: `mlflow.set_registry_uri` would pin it for the process)."""
    import mlflow  # imported here: a server loading a local model need not pay for mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return uri


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
    import mlflow.pyfunc

    from qinglang.models.bundle import ModelBundle

    wrapped = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    bundle = getattr(wrapped, "bundle", None)
    if not isinstance(bundle, ModelBundle):
        raise ModelLoadError(f"{uri} is an MLflow model but not a qinglang model")
    return bundle
