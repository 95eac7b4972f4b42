"""The provenance every run records: code version and environment."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

TRACKED_PACKAGES = ("qinglang", "scikit-learn", "jieba", "pandas", "numpy", "scipy", "joblib", "mlflow", "pyarrow")


def git_state(start: Path | None = None) -> dict[str, str]:
    """Commit and dirty flag of the code that ran (from the installed source tree)."""
    where = start or Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def package_versions() -> dict[str, str]:
    """Installed version of each TRACKED_PACKAGES entry ("not installed" when missing)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment() -> dict[str, str]:
    env = {"python": sys.version.split()[0], "platform": platform.platform()}
    return env | {f"version.{name}": v for name, v in package_versions().items()}


def runtime_requirements() -> list[str]:
    """Pinned pip requirements of the served model (qinglang's own code ships with it)."""
    pins = []
    for name in ("scikit-learn", "jieba", "pandas", "numpy", "scipy", "joblib", "pyyaml", "mlflow"):
        pins.append(f"{name}=={metadata.version(name)}")
    return pins
