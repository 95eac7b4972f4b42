"""File permissions for what the project writes: what a plain `open()` or `mkdir()` would
give under the user's umask. Temporary files and folders (`mkstemp`, `mkdtemp`) are created
private (0600 / 0700) on purpose; when one becomes an output (renamed or copied into place),
it gets the umask's mode instead of staying private by accident."""

from __future__ import annotations

import os
from pathlib import Path


def current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it: set, then restore at once
    os.umask(mask)
    return mask


def as_umask_allows(path: str | Path) -> None:
    """Give `path` the mode a new file (0666) or folder (0777) gets under the umask."""
    path = Path(path)
    base = 0o777 if path.is_dir() else 0o666
    os.chmod(path, base & ~current_umask())
