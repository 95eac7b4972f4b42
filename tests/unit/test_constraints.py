"""constraints.txt, the lock `make setup` installs with, agrees with pyproject.toml and the venv."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from qinglang.training.tracking import TRACKED_PACKAGES

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
            assert match, f"constraints.txt: not a name==version pin: {line!r}"
            found[canonicalize_name(match[1])] = match[2]
    return found


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in [*project["dependencies"], *extras["dev"], *extras["spark"]]]


def test_every_declared_dependency_is_pinned_within_its_range():
    locked = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is in pyproject.toml but not in constraints.txt: run make lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={locked[name]}, outside pyproject's {requirement.specifier}"
        )


def test_the_venv_has_the_pinned_versions_of_the_model_stack():
    # the packages whose releases move fitted models, as every run records them (qinglang itself is not pinned)
    locked = pins()
    for name in (n for n in TRACKED_PACKAGES if n != "qinglang"):
        assert metadata.version(name) == locked[canonicalize_name(name)], f"{name}: venv differs from constraints.txt"
