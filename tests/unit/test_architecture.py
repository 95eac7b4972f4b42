"""The shape of the code, kept true by tests: imports run one way (data → features →
models → training → the jobs that use a model → cli), and functions in the job packages
stay short enough to read at once. docs/architecture.md explains the rule."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which qinglang packages each package may import (itself included). Everything not listed
# is backward. `serve` is online serving only: it never imports training or batch.
ALLOWED: dict[str, set[str]] = {
    "data": {"data"},
    "features": {"data", "features"},
    "models": {"data", "features", "models"},
    "training": {"data", "features", "models", "training"},
    "batch": {"data", "features", "models", "batch"},
    "trending": {"data", "features", "models", "training", "batch", "trending"},
    "labeling": {"data", "features", "models", "training", "batch", "labeling"},
    "serve": {"data", "features", "models", "trending", "serve"},
    "cli": {"data", "features", "models", "training", "batch", "trending", "labeling", "serve", "cli"},
}
SHORT_FUNCTIONS = ("training", "batch", "trending", "labeling", "serve", "cli")
MAX_FUNCTION_LINES = 60


def _imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level qinglang package) of every import, including those inside functions."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + (
                [f"{node.module}.{a.name}" for a in node.names] if node.module == "qinglang" else []
            )
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "qinglang" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def import_violations(root: Path) -> list[str]:
    """Every backward (or relative) import under the package folders of `root`."""
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level:
                    problems.append(
                        f"{path.relative_to(root)}:{node.lineno}: relative import; import qinglang.… by name"
                    )
            for line, target in _imported_packages(tree):
                if target not in allowed:
                    problems.append(f"{path.relative_to(root)}:{line}: {package} imports qinglang.{target} (backward)")
    return problems


def long_functions(root: Path, packages: tuple[str, ...], limit: int) -> list[str]:
    out = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        out.append(f"{path.relative_to(root)}:{node.lineno} {node.name}: {lines} lines")
    return out


def test_every_package_folder_is_known_to_the_import_rule():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - set(ALLOWED) == set(), "a new package needs its place in ALLOWED"


def test_imports_run_one_way():
    assert import_violations(ROOT) == []


def test_serve_holds_only_online_serving():
    assert "training" not in ALLOWED["serve"] and "batch" not in ALLOWED["serve"]
    assert not (ROOT / "serve" / "cli.py").exists() and not (ROOT / "serve" / "scoring.py").exists()


@pytest.mark.parametrize(
    "package, source, expected",
    [
        ("data", "from qinglang.training.config import load_config\n", "data imports qinglang.training"),
        ("models", "def f():\n    import qinglang.serve.predictor\n", "models imports qinglang.serve"),
        ("serve", "from qinglang import training\n", "serve imports qinglang.training"),
        ("features", "from . import normalize\n", "relative import"),
    ],
)
def test_the_import_rule_fails_on_a_backward_import(tmp_path, package, source, expected):
    for name in ALLOWED:
        (tmp_path / name).mkdir()
    (tmp_path / package / "bad.py").write_text(source, "utf-8")
    found = import_violations(tmp_path)
    assert len(found) == 1 and expected in found[0]


def test_functions_in_the_job_packages_are_short():
    assert long_functions(ROOT, SHORT_FUNCTIONS, MAX_FUNCTION_LINES) == []


def test_the_length_rule_fails_on_a_long_function(tmp_path):
    (tmp_path / "training").mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "training" / "long.py").write_text(textwrap.dedent("def f():\n") + body, "utf-8")
    assert long_functions(tmp_path, ("training",), MAX_FUNCTION_LINES) == ["training/long.py:1 f: 61 lines"]
