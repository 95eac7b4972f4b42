"""`label issues` on the real labeled trending titles: cleanlab's ranking from the
project's own out-of-fold probabilities finds labels we corrupted on purpose, and its
output goes straight back to reviewers as a batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qinglang.data.dataset import to_canonical
from qinglang.data.loaders import read_native
from qinglang.labeling.label_issues import IssueRequest, find_issues
from qinglang.labeling.store import LabelStore
from qinglang.training.config import load_config

pytestmark = [pytest.mark.corpora, pytest.mark.slow]


@pytest.fixture(scope="module")
def titles(data_dir, taxonomy):
    return to_canonical(read_native("weibo_trending_labeled", data_dir), taxonomy)


def test_flipped_labels_are_found(titles, taxonomy):
    rows = titles[titles["celebrity_hype"].notna()].reset_index(drop=True)
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(rows), size=40, replace=False)
    noisy = rows.copy()
    noisy.loc[flipped, "celebrity_hype"] = 1 - noisy.loc[flipped, "celebrity_hype"]
    found = find_issues(noisy, taxonomy, load_config(), IssueRequest("celebrity_hype"))
    caught = set(found["text"]) & set(rows["text"].iloc[flipped])
    share_flagged = len(found) / len(rows)
    # 40 flips among 2,150 titles: at least half of them are found in a list of at most 15% of the rows.
    assert len(caught) >= 20, f"only {len(caught)} of 40 flipped labels found"
    assert share_flagged <= 0.15
    assert found["label_quality"].is_monotonic_increasing
    assert (found["given"] != (found["p_positive"] >= 0.5).astype(int)).mean() > 0.9


def test_the_result_is_a_batch_for_re_review(titles, taxonomy, tmp_path):
    found = find_issues(titles, taxonomy, load_config(), IssueRequest("trivial", folds=3))
    assert set(found["selected_by"]) == {"label-issue:trivial"}
    store = LabelStore(tmp_path / "l.sqlite", taxonomy)
    assert store.add_batch(found, "issues") == len(found) > 0
    assert pd.Index(found["text"]).isin(titles["text"]).all()
