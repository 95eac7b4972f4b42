"""Issue 19: outputs get the mode the user's umask allows, not the private mode of the
temporary file or folder they were written in."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from qinglang.data.files import as_umask_allows, current_umask


@pytest.fixture()
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_private_temp_file_and_folder_get_the_umasks_mode(tmp_path, umask_022):
    fd, name = tempfile.mkstemp(dir=tmp_path)
    os.close(fd)
    folder = tempfile.mkdtemp(dir=tmp_path)
    as_umask_allows(name)
    as_umask_allows(folder)
    assert stat.S_IMODE(os.stat(name).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755
    assert current_umask() == 0o022


def test_a_stricter_umask_is_respected(tmp_path):
    old = os.umask(0o077)
    try:
        path = tmp_path / "f"
        path.write_text("x")
        os.chmod(path, 0o666)
        as_umask_allows(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_score_output_and_training_outputs_follow_the_umask(tmp_path, umask_022, demo_bundle):
    import pandas as pd

    from qinglang.batch.scoring import ScoreRequest, score_file
    from qinglang.training.train import keep_outputs

    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["明星官宣恋情", "今天下雪"]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    score_file(demo_bundle, ScoreRequest(source, out, jobs=1, progress=False))
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    run_dir = Path(tempfile.mkdtemp(dir=tmp_path))
    (run_dir / "report.md").write_text("x")
    kept = keep_outputs(run_dir, tmp_path / "runs" / "latest")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o755
