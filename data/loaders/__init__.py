"""Readers for each public corpus in its native format, plus user-supplied labeled files.

Importing this package registers every corpus reader in `REGISTRY`."""

from qinglang.data.loaders import corpora as _corpora  # noqa: F401  (registers the readers)
from qinglang.data.loaders.archive import ARCHIVE_FOLDER, load_trending_archive
from qinglang.data.loaders.base import REGISTRY, NativeRows, read_native
from qinglang.data.loaders.tabular import read_labeled_file, read_table

__all__ = [
    "REGISTRY",
    "NativeRows",
    "read_native",
    "ARCHIVE_FOLDER",
    "load_trending_archive",
    "read_labeled_file",
    "read_table",
]
