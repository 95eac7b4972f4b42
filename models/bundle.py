"""The deployable unit: a fitted classifier with the taxonomy it was trained on and the
run's metadata, saved as one file so names, groups and thresholds cannot drift apart.

Saved as a gzip-compressed pickle (protocol 5) rather than with joblib: joblib's loader is
the pure-Python unpickler, whose garbage adds about 60 MB to a server's resident memory
for this model; the C unpickler does not. Like any pickle, load only models you trust."""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qinglang.data.taxonomy import DEFAULT_KIND, Taxonomy
from qinglang.features.normalize import as_text_list
from qinglang.models.multilabel import MultiCategoryClassifier

BUNDLE_FILE = "qinglang-model.pkl.gz"


@dataclass
class ModelBundle:
    classifier: MultiCategoryClassifier
    taxonomy: Taxonomy
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if list(self.classifier.categories_) != self.taxonomy.keys:
            raise ValueError(
                f"classifier categories {self.classifier.categories_} differ from the taxonomy's {self.taxonomy.keys}"
            )

    @property
    def categories(self) -> list[str]:
        return self.taxonomy.keys

    def score_columns(self) -> list[str]:
        return [f"{p}_{k}" for k in self.categories for p in ("score", "flag")]

    @property
    def profiles(self) -> list[str]:
        """Names of the operating points stored in the model, the default first."""
        clf = self.classifier
        return [clf.default_profile_, *(p for p in clf.profiles_ if p != clf.default_profile_)]

    @property
    def default_kind(self) -> str:
        """The kind a text is taken to be when the caller names none (set in the config)."""
        return getattr(self.classifier, "default_kind_", None) or DEFAULT_KIND

    def score_frame(self, texts, profile: str | None = None, kind=None) -> pd.DataFrame:
        """For every category K: `score_K` (calibrated probability; NaN when K was not
        trained or does not apply to the kind) and `flag_K` (0/1 at K's threshold for
        `profile`, default the model's). `kind`: title, post or comment, for all texts or
        one per text (default: the model's default kind)."""
        self.classifier.profile_thresholds(profile, kind if isinstance(kind, str) else None)  # fail before any work
        texts = as_text_list(texts)
        if not texts:
            return self._frame(np.zeros((0, len(self.categories))), np.zeros((0, len(self.categories)), np.int8))
        proba = self.classifier.predict_proba(texts, kind)
        return self._frame(proba, self.classifier.flags(proba, profile, kind))

    def _frame(self, proba: np.ndarray, flags: np.ndarray) -> pd.DataFrame:
        data = {}
        for j, key in enumerate(self.categories):
            data[f"score_{key}"] = proba[:, j]
            data[f"flag_{key}"] = flags[:, j]
        return pd.DataFrame(data)

    def warm_up(self) -> ModelBundle:
        """Load the jieba dictionary and run one prediction so the first request is fast."""
        self.classifier.predict_proba(["预热"])
        return self

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / BUNDLE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb", compresslevel=6) as fh:
            pickle.dump(self, fh, protocol=5)
        return path

    @staticmethod
    def load(path: str | Path) -> ModelBundle:
        path = Path(path)
        if path.is_dir():
            path = path / BUNDLE_FILE
        with gzip.open(path, "rb") as fh:
            bundle = pickle.load(fh)
        if not isinstance(bundle, ModelBundle):
            raise TypeError(f"{path} holds a {type(bundle).__name__}, not a qinglang ModelBundle")
        return bundle
