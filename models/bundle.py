"""The deployable unit: a fitted classifier with the taxonomy it was trained on and the
run's metadata, saved as one file so names, groups and thresholds cannot drift apart.

Saved as a gzip-compressed pickle (protocol 5) rather than with joblib: joblib's loader is
the pure-Python unpickler, whose garbage adds about 60 MB to a server's resident memory
for this model; the C unpickler does not.

Like any pickle, loading a model runs code: load only models you trust. Before unpickling,
`load` checks the file's SHA-256 against the digest recorded when it was written (the
`.sha256` file beside it, or the digest the MLflow model recorded at training) and, when
the environment sets QINGLANG_MODEL_SHA256, against that pinned digest: a file changed
since training, or any model other than the pinned one, is refused before any of it runs."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import gzip
import hashlib
import os
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
CHECKSUM_SUFFIX = ".sha256"  # beside the bundle: "<hex digest>  qinglang-model.pkl.gz", as sha256sum writes
PIN_ENV = "QINGLANG_MODEL_SHA256"


class ModelIntegrityError(ValueError):
    """The model file is not the one that was recorded or pinned: refused before unpickling."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _recorded_digest(path: Path) -> str | None:
    sidecar = path.with_name(path.name + CHECKSUM_SUFFIX)
    if not sidecar.is_file():
        return None
    return sidecar.read_text("utf-8").split()[0].strip().lower()


def verify_file(path: Path, expected_sha256: str | None = None) -> str:
    """The file's digest, after checking it against the recorded and pinned digests."""
    actual = file_sha256(path)
    checks = (
        ("recorded when the model was trained", expected_sha256 or _recorded_digest(path)),
        (f"pinned by {PIN_ENV}", os.environ.get(PIN_ENV)),
    )
    for what, wanted in checks:
        if wanted and wanted.strip().lower() != actual:
            raise ModelIntegrityError(
                f"{path}: SHA-256 {actual} differs from the digest {what} ({wanted.strip()}); "
                "refusing to unpickle a model file that is not the expected one"
            )
    return actual


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
        """Load the jieba dictionary and run one prediction so the first request is fast;
        then hand the memory that unpickling and compiling freed back to the system."""
        self.classifier.predict_proba(["预热"])
        _return_freed_memory()
        return self

    def save(self, directory: str | Path) -> Path:
        """The bundle file, and its SHA-256 beside it (`<file>.sha256`)."""
        path = Path(directory) / BUNDLE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb", compresslevel=6) as fh:
            pickle.dump(self, fh, protocol=5)
        path.with_name(path.name + CHECKSUM_SUFFIX).write_text(f"{file_sha256(path)}  {path.name}\n", "utf-8")
        return path

    @staticmethod
    def load(path: str | Path, expected_sha256: str | None = None) -> ModelBundle:
        """Verify the file (see the module docstring), then unpickle it."""
        path = Path(path)
        if path.is_dir():
            path = path / BUNDLE_FILE
        verify_file(path, expected_sha256)
        with gzip.open(path, "rb") as fh:
            bundle = pickle.load(fh)
        if not isinstance(bundle, ModelBundle):
            raise TypeError(f"{path} holds a {type(bundle).__name__}, not a qinglang ModelBundle")
        return bundle


def _return_freed_memory() -> None:
    """glibc keeps freed heap pages for later allocations; `malloc_trim` returns them. After
    loading a model that is about 20 MB of resident memory per process (issue 19: the
    server's RSS 416 → about 397 MB). A no-op where glibc is not the C library."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
