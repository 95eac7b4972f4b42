"""The notebooks in notebooks/ run top to bottom on small slices of the real corpora, write
nothing into the repository, and are committed with their outputs stripped."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = [
    "01_data_exploration.ipynb",
    "02_training_walkthrough.ipynb",
    "03_error_analysis.ipynb",
    "04_labeling_loop.ipynb",
]
CI_ROWS = "400"  # rows per source: the three notebooks then run in about 35 s on two cores
CELL_TIMEOUT = 600  # seconds per cell


def test_the_notebook_list_is_complete():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cells"
    dirty = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert not dirty, (
        f"{name}: cells {dirty} have outputs or an execution count; strip them (nbstripout, or Clear All Outputs) before committing"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    settings = code[0].source
    assert "QINGLANG_DATA_DIR" in settings and "QINGLANG_NOTEBOOK_ROWS" in settings, (
        f"{name}: the first code cell must read the settings"
    )


@pytest.mark.corpora
@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom(name, data_dir, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    # Kept across kernels: rebuilding jieba's dictionary cache costs about a second per kernel.
    monkeypatch.setenv("QINGLANG_JIEBA_CACHE_DIR", os.environ.get("QINGLANG_JIEBA_CACHE_DIR") or tempfile.gettempdir())
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the notebooks' scratch folders, cleaned up with tmp_path
    monkeypatch.setenv("QINGLANG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("QINGLANG_NOTEBOOK_ROWS", CI_ROWS)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("QINGLANG_MODEL", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())

    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
    print(f"{name}: {time.perf_counter() - started:.1f} s")

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "some cells did not run"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert len(outputs) >= len(code) // 2, f"{name}: only {len(outputs)} outputs for {len(code)} code cells"
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{name}: no inline plot was produced"
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before, (
        "the notebook wrote files into notebooks/ (mlruns, mlflow.db, reports?)"
    )
