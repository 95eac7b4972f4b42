"""Using a trained model: the in-process Predictor, the HTTP service, batch scoring, the
command line."""

from typing import Any

__all__ = ["Predictor", "Prediction"]


def __getattr__(name: str) -> Any:
    """Lazy exports: `qinglang.cli.app` stays quick to start for `--help`."""
    if name in __all__:
        from qinglang.serve import predictor

        return getattr(predictor, name)
    raise AttributeError(name)
