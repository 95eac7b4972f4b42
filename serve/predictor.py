"""The in-process API: load a model once, then score texts from any thread.

    from qinglang.serve import Predictor
    predictor = Predictor.load("models:/qinglang@candidate")
    predictor.predict(["某顶流明星机场私服曝光"])[0].flagged

Category names, groups and thresholds come from the model artifact, never from a file on
the serving host, so responses always match what the model was trained for."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qinglang.features.normalize import as_text_list
from qinglang.models.bundle import ModelBundle
from qinglang.models.registry import ModelInfo, load_model


@dataclass(frozen=True)
class Flag:
    category: str
    name_zh: str
    group: str
    score: float


@dataclass(frozen=True)
class Prediction:
    """`scores`: every category's calibrated probability, None where the category was not
    trained; `flagged`: categories at or above their threshold, highest score first."""

    scores: dict[str, float | None]
    flagged: list[Flag]
    model: ModelInfo = field(repr=False)

    @property
    def groups(self) -> list[str]:
        """Distinct groups of the flagged categories (e.g. harmful, low_value), sorted."""
        return sorted({f.group for f in self.flagged})


class Predictor:
    """Stateless after construction: the model is only read, so one instance serves any
    number of threads (and forked processes). Construction warms the tokenizer."""

    def __init__(self, bundle: ModelBundle, info: ModelInfo) -> None:
        self.bundle = bundle.warm_up()
        self.info = info
        self.categories = bundle.categories
        self._classifier = bundle.classifier
        self._meta = [bundle.taxonomy[k] for k in self.categories]

    @classmethod
    def load(cls, model: str) -> Predictor:
        """`model`: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model, an MLflow
        model folder or a folder holding a saved ModelBundle. Raises ModelLoadError."""
        loaded = load_model(model)
        return cls(loaded.bundle, loaded.info)

    @property
    def profiles(self) -> list[str]:
        """Operating points stored in the model, the default first."""
        return self.bundle.profiles

    @property
    def default_kind(self) -> str:
        return self.bundle.default_kind

    def scores(self, texts: Iterable[str], profile: str | None = None, kind=None) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, flags) as (n, K) arrays in taxonomy order; NaN = not trained, or
        not applicable to the kind. `profile` names the operating point for the flags and
        `kind` the kind of text, one for all or one per text (ValueError if unknown)."""
        self._classifier.profile_thresholds(profile)  # an unknown profile fails before any work
        texts = as_text_list(texts)
        proba = self._classifier.predict_proba(texts, kind)
        return proba, self._classifier.flags(proba, profile, kind)

    def predict(self, texts: Iterable[str], profile: str | None = None, kind=None) -> list[Prediction]:
        proba, flags = self.scores(texts, profile, kind)
        out = []
        for row, row_flags in zip(proba.tolist(), flags.tolist(), strict=True):
            scores = {k: (None if math.isnan(p) else p) for k, p in zip(self.categories, row, strict=True)}
            flagged = [
                Flag(c.key, c.name_zh, c.group, p) for c, p, f in zip(self._meta, row, row_flags, strict=True) if f
            ]
            flagged.sort(key=lambda f: -f.score)
            out.append(Prediction(scores, flagged, self.info))
        return out

    def predict_series(self, texts: pd.Series, profile: str | None = None, kind=None) -> pd.DataFrame:
        """`score_K` and `flag_K` per category, indexed like `texts`."""
        if not isinstance(texts, pd.Series):
            raise TypeError(f"predict_series takes a pandas Series of str, got {type(texts).__name__}")
        frame = self.bundle.score_frame(texts, profile, kind)
        frame.index = texts.index
        return frame
