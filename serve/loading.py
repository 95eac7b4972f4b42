"""Load a model from an MLflow URI (`models:/qinglang@candidate`, `models:/qinglang/3`,
`runs:/<id>/model`) or a local directory (an MLflow model folder, or a folder holding a
saved ModelBundle), and say which registered name and version it is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qinglang.models.bundle import BUNDLE_FILE, ModelBundle
from qinglang.serve.settings import ModelLoadError
from qinglang.training.tracking import configure_tracking

_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[^/]+))/?$")


@dataclass(frozen=True)
class LoadedModel:
    bundle: ModelBundle
    name: str
    version: str


def load_model(model: str) -> LoadedModel:
    """The warmed-up bundle with its registered name and version; a model outside the
    registry reports version `run:<run id>`."""
    try:
        local = Path(model)
        if local.exists():
            if (local / "MLmodel").is_file():
                return _unregistered(_from_mlflow(str(local)))
            if local.is_file() or (local / BUNDLE_FILE).is_file():
                return _unregistered(ModelBundle.load(local).warm_up())
            raise ModelLoadError(f"{model}: a folder with neither an MLflow model (MLmodel) nor {BUNDLE_FILE}")
        if "://" in model or model.startswith(("models:", "runs:")):
            configure_tracking()
            bundle = _from_mlflow(model)
            registered = _REGISTRY_URI.match(model)
            if registered:
                return LoadedModel(bundle, registered["name"], _registry_version(registered))
            return _unregistered(bundle)
        raise ModelLoadError(f"{model}: no such file or folder, and not an MLflow model URI (models:/NAME@ALIAS, runs:/RUN_ID/model)")
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {model!r}: {type(exc).__name__}: {exc}") from exc


def load_bundle(model: str) -> ModelBundle:
    return load_model(model).bundle


def _unregistered(bundle: ModelBundle) -> LoadedModel:
    run_id = bundle.metadata.get("run_id")
    return LoadedModel(bundle, bundle.metadata.get("model_name", "qinglang"), f"run:{run_id}" if run_id else "local")


def _registry_version(match: re.Match) -> str:
    if match["version"]:
        return match["version"]
    from mlflow import MlflowClient

    return str(MlflowClient().get_model_version_by_alias(match["name"], match["alias"]).version)


def _from_mlflow(uri: str) -> ModelBundle:
    import mlflow.pyfunc

    wrapped = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    bundle = getattr(wrapped, "bundle", None)
    if not isinstance(bundle, ModelBundle):
        raise ModelLoadError(f"{uri} is an MLflow model but not a qinglang model")
    return bundle
