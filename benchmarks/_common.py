"""Shared helpers for the benchmark scripts: arguments, archive titles, tables, JSON.

Nothing here imports numpy at module level, so bench_inprocess.py can pin BLAS threads
before numpy is first imported."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = REPO_ROOT / ".venv" / "bin"


def default_data_dir() -> Path:
    env = os.environ.get("QINGLANG_DATA_DIR")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "datasets").resolve()


def parser(description: str, model: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if model:
        p.add_argument(
            "--model",
            required=True,
            help="Model folder (holding qinglang-model.pkl.gz) or any model URI the CLI accepts.",
        )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="Datasets folder (default: $QINGLANG_DATA_DIR, else ../shared/datasets from the repo root).",
    )
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="Also write the figures here as JSON.")
    return p


def archive_titles(data_dir: Path, shuffle_seed: int | None = 0) -> tuple[list[str], float]:
    """Distinct titles of the Weibo trending archive, shuffled with `shuffle_seed` (None:
    archive order), and the seconds it took to load them."""
    import numpy as np

    from qinglang.data.loaders.archive import load_trending_archive

    started = time.perf_counter()
    titles = load_trending_archive(Path(data_dir) / "weibo_trending" / "raw").titles["title"].tolist()
    seconds = time.perf_counter() - started
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(titles))
        titles = [titles[i] for i in order]
    return titles, seconds


def percentile_ms(seconds: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(seconds) * 1000.0, q)) if seconds else float("nan")


def machine() -> dict:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    from qinglang.training.tracking import package_versions  # here: numpy stays unimported at module level

    return {
        "host": platform.node(),
        "python": platform.python_version(),
        "cpus_available": cpus,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        # fitted models and their figures move with these (constraints.txt pins them)
        "packages": package_versions(),
    }


def print_table(title: str, rows: list[tuple[str, object]]) -> None:
    """Two-column table; floats get thousands separators and sensible precision."""

    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v)

    width = max(len(k) for k, _ in rows)
    print(f"\n{title}\n{'-' * len(title)}")
    for k, v in rows:
        print(f"  {k:<{width}}  {fmt(v)}")


def print_markdown_table(title: str, header: list[str], rows: list[list]) -> None:
    """A Markdown table under a title line, cells as str()."""
    print(f"\n{title}\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def write_json(path: Path | None, figures: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print(f"\nfigures → {path}")
