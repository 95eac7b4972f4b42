"""Self-training end to end on real corpus slices: the archive pool is read with its date
cut-off, pseudo-labels are recorded, and the model logs, loads and scores like any other."""

import numpy as np
import pytest

from qinglang.data.loaders import ARCHIVE_FOLDER, load_trending_archive
from qinglang.training import train as train_module
from qinglang.training.train import train

pytestmark = pytest.mark.corpora


def test_self_trained_category_is_fitted_on_pre_cutoff_archive_titles(data_dir, tracking, make_config, monkeypatch):
    pools = []
    real = train_module.unlabeled_texts

    def spy(*args, **kwargs):
        pools.append(real(*args, **kwargs))
        return pools[-1]

    monkeypatch.setattr(train_module, "unlabeled_texts", spy)
    cfg = make_config(
        data={"max_rows_per_source": 400, "unlabeled_archive": {"before": "2022-01-01"}},
        model={
            "cv_folds": 3,
            "min_positives": 8,
            "n_jobs": 1,
            "categories": {"trivial": {"self_training": {"n_positive": 40, "weight": 0.3}}},
        },
    )
    result = train(cfg, data_dir, register=False)

    pool = pools[0]
    assert len(pool) == 400  # capped like every source of a slice run
    archive = load_trending_archive(data_dir / ARCHIVE_FOLDER)
    first_seen = archive.titles.set_index("title")["first_seen"]
    assert first_seen.loc[pool].max() < np.datetime64("2022-01-01")
    assert not set(pool) & set(result.dataset.table["text"])  # no labeled text is used as unlabeled

    summary = {f["key"]: f for f in result.bundle.classifier.fit_summary()}
    trivial = summary["trivial"]
    assert (
        trivial["trained"]
        and trivial["pseudo_labeled"]["positive"] == 40
        and trivial["pseudo_labeled"]["negative"] > 40
    )
    assert summary["celebrity_hype"]["pseudo_labeled"] is None
    scores = result.bundle.score_frame(["明星机场私服穿搭", "为什么吃火锅这么快乐"])
    assert np.isfinite(scores["score_trivial"]).all()


def test_topics_from_the_archive_reach_the_word_coefficients_of_a_char_category(data_dir, tracking, make_config):
    """`topics` on real slices: trivial is fitted on its char block plus the archive's word
    topics, which fold back into word coefficients; the other categories are as without it."""
    base = {
        "data": {"max_rows_per_source": 400, "unlabeled_archive": {"before": "2022-01-01"}},
        "model": {"cv_folds": 3, "min_positives": 8, "n_jobs": 1, "categories": {"trivial": {"features": "char"}}},
    }
    with_topics = {
        **base,
        "model": {**base["model"], "categories": {"trivial": {"features": "char", "topics": {"components": 20}}}},
    }
    plain = train(make_config(**base), data_dir, register=False).bundle.classifier
    topics = train(make_config(**with_topics), data_dir, register=False).bundle
    clf = topics.classifier
    j, k = clf.categories_.index("trivial"), clf.categories_.index("celebrity_hype")
    words = clf._feature_blocks(clf.coef_.shape[0])["word"]
    assert not plain.coef_[words, j].any() and clf.coef_[words, j].any()
    np.testing.assert_array_equal(clf.coef_[:, k], plain.coef_[:, k])
    scores = topics.score_frame(["为什么吃火锅这么快乐", "国务院常务会议部署经济工作"])
    assert np.isfinite(scores["score_trivial"]).all()
