"""Per-kind calibration: each kind gets its own calibration and thresholds where it has
enough labels, a prior shift and no flags where it has labeled rows but too few positives,
the pooled fit where it has none, and no score where the category does not apply."""

import pickle

import numpy as np
import pytest
from scipy.stats import beta

from qinglang.data.taxonomy import KINDS
from qinglang.models.kinds import KindFit, _shifted_intercept, prior_shift, sigmoid
from qinglang.models.multilabel import MultiCategoryClassifier

from .test_multilabel import INSULTS, NEUTRAL, make_model

HEADLINES = [
    "市长出席发布会",
    "暴雨致多地停课",
    "法院宣判诈骗案",
    "高铁新线开通",
    "消防员救出被困老人",
    "外交部发布提醒",
]


def kinded_data(n_repeat=4):
    """Comments carry the abuse labels (many positives); titles are all labeled negative,
    as the trending set is for a harmful category it rarely sees."""
    texts, y, kinds = [], [], []
    for r in range(n_repeat):
        for t in INSULTS:
            texts.append(f"{t}{r}"), y.append([1, 0]), kinds.append("comment")
        for t in NEUTRAL:
            texts.append(f"{t}{r}"), y.append([0, 1 if r % 2 else 0]), kinds.append("comment")
        for t in HEADLINES * 5:
            texts.append(f"{t}{r}{len(texts)}"), y.append([0, 0]), kinds.append("title")
    return texts, np.array(y, dtype=float), np.array(kinds, dtype=object)


@pytest.fixture(scope="module")
def fitted():
    texts, Y, kinds = kinded_data()
    clf = make_model(category_kinds={"disinformation": ["title", "post"]})
    return clf.fit(texts, Y, kinds=kinds)


def test_each_kind_is_calibrated_by_what_its_labels_allow(fitted):
    kinds = fitted.category_fits_["online_violence"].kinds
    assert kinds["comment"]["status"] == "calibrated"
    assert kinds["title"]["status"] == "prior_shift" and kinds["title"]["n_positive"] == 0
    assert kinds["post"]["status"] == "pooled" and kinds["post"]["n_known"] == 0
    assert fitted.category_fits_["disinformation"].kinds["comment"]["status"] == "not_applicable"


def test_a_kind_with_too_few_positives_never_flags_and_its_mean_matches_its_rate(fitted):
    j = fitted.categories_.index("online_violence")
    for profile in fitted.profiles_:
        assert np.isinf(fitted.profile_thresholds(profile, "title")[j])
        assert np.isfinite(fitted.profile_thresholds(profile, "comment")[j])
    assert fitted.predict([INSULTS[0]], kind="title")[0, j] == 0
    title = fitted.category_fits_["online_violence"].kinds["title"]
    assert title["mean_probability"] <= beta.ppf(0.975, 0.5, title["n_known"] + 0.5)  # consistent with 0 positives


def test_a_pooled_mean_that_contradicts_the_kinds_rate_is_shifted_to_it():
    pooled = KindFit("all", "pooled", 0, 0, 1.0, 0.0)
    z = np.random.default_rng(0).normal(size=400)  # pooled mean about 0.5 on 400 rows with 2 positives
    shifted = _shifted_intercept(pooled, z, 400, 2)
    assert sigmoid(z + shifted).mean() == pytest.approx(2.5 / 401, rel=1e-6)
    assert _shifted_intercept(pooled, z, 400, 200) == 0.0  # a rate the pooled mean agrees with: kept


def test_a_category_that_does_not_apply_to_a_kind_has_no_score(fitted):
    j = fitted.categories_.index("disinformation")
    assert np.isnan(fitted.predict_proba(["今天天气不错"], kind="comment")[0, j])
    assert not np.isnan(fitted.predict_proba(["今天天气不错"], kind="title")[0, j])
    assert fitted.predict(["今天天气不错"], kind="comment")[0, j] == 0


def test_kinds_per_row_equal_kinds_one_at_a_time(fitted):
    texts = [INSULTS[1], NEUTRAL[2], HEADLINES[0]]
    kinds = ["comment", "title", "post"]
    mixed = fitted.predict_proba(texts, kinds)
    one_by_one = np.vstack([fitted.predict_proba([t], k) for t, k in zip(texts, kinds, strict=True)])
    np.testing.assert_array_equal(mixed, one_by_one)
    np.testing.assert_array_equal(fitted.flags(mixed, "review", kinds), fitted.predict(texts, "review", kinds))


def test_the_default_kind_is_the_models_and_unknown_kinds_are_refused(fitted):
    np.testing.assert_array_equal(fitted.predict_proba(["你好"]), fitted.predict_proba(["你好"], "title"))
    with pytest.raises(ValueError, match="unknown text kind 'tweet'"):
        fitted.predict_proba(["你好"], "tweet")
    with pytest.raises(ValueError, match="2 kinds for 1 texts"):
        fitted.predict_proba(["你好"], ["title", "post"])
    with pytest.raises(ValueError, match="unknown text kind"):
        make_model(default_kind="tweet").fit(*kinded_data()[:2])


def test_per_kind_tables_travel_in_the_pickle(fitted):
    again = pickle.loads(pickle.dumps(fitted))
    for name in fitted.profiles_:
        np.testing.assert_array_equal(again.kind_profiles_[name], fitted.kind_profiles_[name])
    np.testing.assert_array_equal(again.kind_calibration_, fitted.kind_calibration_)
    np.testing.assert_array_equal(again.kind_applies_, fitted.kind_applies_)
    assert again.kinds_aware and again.kind_profiles_["review"].shape == (len(KINDS), 2)


def test_a_model_without_kind_tables_ignores_the_kind_but_checks_it(fitted):
    old = pickle.loads(pickle.dumps(fitted))
    for attr in ("kind_calibration_", "kind_profiles_", "kind_reached_", "kind_applies_"):
        delattr(old, attr)
    assert not old.kinds_aware
    np.testing.assert_array_equal(old.predict_proba(["你好"], "comment"), old.predict_proba(["你好"]))
    with pytest.raises(ValueError, match="unknown text kind"):
        old.predict_proba(["你好"], "tweet")


def test_prior_shift_hits_its_target_rate():
    z = np.random.default_rng(0).normal(size=500)
    b = prior_shift(1.3, 0.2, z, 0.01)
    assert sigmoid(1.3 * z + b).mean() == pytest.approx(0.01, rel=1e-6)


def test_without_kinds_every_row_is_the_default_kind():
    texts, Y, _ = kinded_data(2)
    clf = make_model().fit(texts, Y)
    statuses = {k: v["status"] for k, v in clf.category_fits_["online_violence"].kinds.items()}
    assert statuses == {"title": "calibrated", "post": "pooled", "comment": "pooled"}
    assert isinstance(clf, MultiCategoryClassifier)
