"""Load a model from an MLflow URI (`models:/qinglang@candidate`, `runs:/<id>/model`) or a
local directory (an MLflow model folder, or a folder holding a saved ModelBundle)."""

from __future__ import annotations

from pathlib import Path

from qinglang.models.bundle import BUNDLE_FILE, ModelBundle
from qinglang.training.tracking import configure_tracking


class ModelLoadError(RuntimeError):
    """The model reference cannot be resolved or loaded; the message says which and why."""


def load_bundle(model: str) -> ModelBundle:
    try:
        local = Path(model)
        if local.exists():
            if (local / "MLmodel").is_file():
                return _from_mlflow(str(local))
            if local.is_file() or (local / BUNDLE_FILE).is_file():
                return ModelBundle.load(local).warm_up()
            raise ModelLoadError(f"{model}: a folder with neither an MLflow model (MLmodel) nor {BUNDLE_FILE}")
        if "://" in model or model.startswith(("models:", "runs:")):
            configure_tracking()
            return _from_mlflow(model)
        raise ModelLoadError(f"{model}: no such file or folder, and not an MLflow model URI (models:/NAME@ALIAS, runs:/RUN_ID/model)")
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {model!r}: {type(exc).__name__}: {exc}") from exc


def _from_mlflow(uri: str) -> ModelBundle:
    import mlflow.pyfunc

    wrapped = mlflow.pyfunc.load_model(uri).unwrap_python_model()
    bundle = getattr(wrapped, "bundle", None)
    if not isinstance(bundle, ModelBundle):
        raise ModelLoadError(f"{uri} is an MLflow model but not a qinglang model")
    return bundle
