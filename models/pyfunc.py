"""The MLflow pyfunc that serves a ModelBundle: a DataFrame with a `text` column in, the
`score_K` / `flag_K` columns of every category out; `params={"profile": "auto"}` picks
the operating point of the flags and `params={"kind": "comment"}` the kind of text (title,
post or comment; default: the model's). A `kind` column, when the input has one, gives
each row its own kind."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from qinglang.models.bundle import ModelBundle

ARTIFACT_KEY = "bundle"
CHECKSUM_KEY = "bundle_sha256"  # in the logged model's model_config: the bundle file's digest at training


class QinglangPyfunc(mlflow.pyfunc.PythonModel):
    # MLflow wraps a subclass's `predict` for type-hint validation and, without hints, warns
    # on every import and load. The input contract is checked in `predict` itself (a
    # DataFrame with a `text` column, or a list of str) and by the signature logged with the
    # model, so the wrapper adds nothing; this is MLflow's own switch for skipping it.
    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        """The bundle, verified against the digest recorded at training (`model_config`)."""
        expected = (getattr(context, "model_config", None) or {}).get(CHECKSUM_KEY)
        self.bundle = ModelBundle.load(context.artifacts[ARTIFACT_KEY], expected_sha256=expected).warm_up()

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        params = params or {}
        kind = params.get("kind") or None
        if isinstance(model_input, pd.DataFrame):
            if "text" not in model_input.columns:
                raise ValueError(f"input needs a 'text' column; got {list(model_input.columns)}")
            texts = model_input["text"]
            if "kind" in model_input.columns:
                kind = model_input["kind"].fillna(kind or self.bundle.default_kind).tolist()
        else:
            texts = model_input
        return self.bundle.score_frame(texts, params.get("profile"), kind)
