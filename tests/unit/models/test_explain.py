"""Drivers are the exact linear contributions of the features in the text."""

import pytest

from qinglang.models.explain import drivers, feature_names


def test_drivers_sum_to_the_decision_score_and_name_real_features(demo_bundle):
    clf = demo_bundle.classifier
    text = "楼主就是个脑残，滚出去"
    j = clf.categories_.index("online_violence")
    up = drivers(clf, [text], "online_violence", k=10_000)[0]
    down = drivers(clf, [text], "online_violence", k=10_000, sign=-1)[0]
    assert up and all(d.contribution > 0 for d in up) and all(d.contribution < 0 for d in down)
    total = sum(d.contribution for d in up + down) + clf.intercept_[j]
    assert total == pytest.approx(clf.decision_function([text])[0, j], abs=1e-4)
    names = set(feature_names(clf))
    assert all(f"{d.kind}__{d.feature}" in names for d in up)
    assert any("残" in d.feature for d in up[:3])


def test_top_k_is_sorted_and_bad_sign_refused(demo_bundle):
    top = drivers(demo_bundle.classifier, ["顶流小A机场私服又火了", "明天有雨"], "celebrity_hype", k=3)
    assert len(top) == 2 and len(top[0]) <= 3
    assert [d.contribution for d in top[0]] == sorted((d.contribution for d in top[0]), reverse=True)
    with pytest.raises(ValueError):
        drivers(demo_bundle.classifier, ["x"], "celebrity_hype", sign=0)
