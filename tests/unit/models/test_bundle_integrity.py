"""Issue 19: a model file is a pickle, so it is checked before it is unpickled: against the
digest written beside it at training, the digest the MLflow model recorded, and a digest
pinned by the operator (QINGLANG_MODEL_SHA256)."""

from __future__ import annotations

import gzip
import os
import pickle

import pytest

from qinglang.models.bundle import BUNDLE_FILE, CHECKSUM_SUFFIX, PIN_ENV, ModelBundle, ModelIntegrityError, file_sha256
from qinglang.models.registry import ModelLoadError, load_model


class _Marker:
    """Unpickling this creates a file: the proof that code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture()
def saved(tmp_path, demo_bundle):
    path = demo_bundle.save(tmp_path / "bundle")
    return path


def test_save_writes_the_digest_beside_the_file(saved):
    sidecar = saved.with_name(BUNDLE_FILE + CHECKSUM_SUFFIX)
    assert sidecar.read_text("utf-8") == f"{file_sha256(saved)}  {BUNDLE_FILE}\n"
    assert ModelBundle.load(saved.parent).categories


def test_a_replaced_file_is_refused_before_it_is_unpickled(saved, tmp_path):
    marker = tmp_path / "code-ran"
    with gzip.open(saved, "wb") as fh:
        pickle.dump(_Marker(str(marker)), fh)
    with pytest.raises(ModelIntegrityError, match="differs from the digest recorded when the model was trained"):
        ModelBundle.load(saved.parent)
    assert not marker.exists()
    with pytest.raises(ModelLoadError, match="refusing to unpickle"):
        load_model(str(saved.parent))
    assert not marker.exists()


def test_an_expected_digest_overrides_a_missing_sidecar(saved):
    saved.with_name(BUNDLE_FILE + CHECKSUM_SUFFIX).unlink()
    assert ModelBundle.load(saved, expected_sha256=file_sha256(saved)).categories
    with pytest.raises(ModelIntegrityError):
        ModelBundle.load(saved, expected_sha256="0" * 64)


def test_a_pinned_digest_admits_only_that_model(saved, monkeypatch):
    monkeypatch.setenv(PIN_ENV, "ab" * 32)
    with pytest.raises(ModelIntegrityError, match=f"pinned by {PIN_ENV}"):
        ModelBundle.load(saved)
    monkeypatch.setenv(PIN_ENV, file_sha256(saved).upper())
    assert ModelBundle.load(saved).categories
    assert os.environ[PIN_ENV]
