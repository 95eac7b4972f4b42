"""The in-process API: full per-category output, pandas variant, types, threads."""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from qinglang.models.registry import ModelInfo, ModelLoadError
from qinglang.serve.predictor import Predictor

TEXTS = [
    "顶流小A机场私服又火了",
    "你这个傻逼滚出去",
    "明天全国大部分地区有雨",
    "喝醋能治新冠，转发给家人",
    "家里有矿晒豪车名表",
]


@pytest.fixture(scope="module")
def predictor(demo_bundle):
    return Predictor(demo_bundle, ModelInfo("qinglang", "7", "demo0000", "test"))


def test_every_category_is_scored_and_flags_follow_stored_thresholds(predictor, demo_bundle):
    preds = predictor.predict(TEXTS)
    proba = demo_bundle.classifier.predict_proba(TEXTS)
    assert len(preds) == len(TEXTS)
    for pred, row in zip(preds, proba, strict=True):
        assert list(pred.scores) == demo_bundle.categories
        assert pred.scores["wealth_flaunting"] is None  # untrained: no score, never flagged
        flagged = {f.category for f in pred.flagged}
        expected = {
            k
            for k, p, t in zip(demo_bundle.categories, row, demo_bundle.classifier.thresholds_, strict=True)
            if not math.isnan(p) and p >= t
        }
        assert flagged == expected
        assert [f.score for f in pred.flagged] == sorted((f.score for f in pred.flagged), reverse=True)
        assert pred.groups == sorted({demo_bundle.taxonomy[k].group for k in flagged})
        assert pred.model.version == "7"


def test_obvious_cases_are_flagged_with_their_group(predictor):
    celeb, insult = predictor.predict(TEXTS[:2])
    assert celeb.flagged and celeb.flagged[0].category == "celebrity_hype" and celeb.flagged[0].group == "low-value"
    assert "online_violence" in {f.category for f in insult.flagged}


def test_series_variant_keeps_the_index(predictor):
    series = pd.Series(TEXTS, index=[10, 11, 12, 13, 14])
    frame = predictor.predict_series(series)
    assert list(frame.index) == [10, 11, 12, 13, 14]
    assert frame["score_celebrity_hype"].iloc[0] == pytest.approx(
        predictor.predict(TEXTS[:1])[0].scores["celebrity_hype"]
    )
    with pytest.raises(TypeError, match="Series"):
        predictor.predict_series(TEXTS)


@pytest.mark.parametrize("bad", ["one string", [1, 2], ["ok", None], pd.DataFrame({"text": ["a"]}), 42])
def test_wrong_types_are_refused(predictor, bad):
    with pytest.raises(TypeError):
        predictor.predict(bad)


def test_empty_list_and_huge_text(predictor):
    assert predictor.predict([]) == []
    (pred,) = predictor.predict(["傻逼" * 500_000])  # normalisation truncates: bounded cost
    assert 0 <= pred.scores["online_violence"] <= 1


def test_threads_get_exactly_the_sequential_results(predictor):
    texts = [f"{t}{i}" for i in range(60) for t in TEXTS]
    sequential = [predictor.predict([t])[0].scores for t in texts]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda t: predictor.predict([t])[0].scores, texts))
    assert concurrent == sequential


def test_loading_a_saved_bundle_reports_its_run(demo_bundle, tmp_path):
    demo_bundle.save(tmp_path / "m")
    loaded = Predictor.load(str(tmp_path / "m"))
    assert loaded.info.version == "run:demo0000" and loaded.info.name == "qinglang"
    np.testing.assert_array_equal(loaded.scores(TEXTS)[1], demo_bundle.classifier.predict(TEXTS))


@pytest.mark.parametrize("ref", ["no/such/folder", "models:/qinglang@nope"])
def test_broken_model_references_raise_a_clear_error(ref, tmp_path, tracking):
    with pytest.raises(ModelLoadError, match="qinglang|no such"):
        Predictor.load(ref)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="neither an MLflow model"):
        Predictor.load(str(tmp_path))
    (tmp_path / "qinglang-model.pkl.gz").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="cannot load model"):
        Predictor.load(str(tmp_path))


@pytest.mark.parametrize("profile", ["review", "auto"])
def test_flags_follow_the_chosen_operating_point(predictor, demo_bundle, profile):
    proba = demo_bundle.classifier.predict_proba(TEXTS)
    thresholds = demo_bundle.classifier.profiles_[profile]
    for pred, row in zip(predictor.predict(TEXTS, profile), proba, strict=True):
        assert {f.category for f in pred.flagged} == {
            k for k, p, t in zip(demo_bundle.categories, row, thresholds, strict=True) if p >= t
        }
    frame = predictor.predict_series(pd.Series(TEXTS), profile)
    assert frame.filter(like="flag_").to_numpy().tolist() == (proba >= thresholds).astype(int).tolist()


def test_unknown_operating_point_is_refused(predictor):
    assert predictor.profiles == ["balanced", "review", "auto"]
    with pytest.raises(ValueError, match="unknown threshold profile 'strict'"):
        predictor.predict(TEXTS, "strict")


def test_the_kind_of_text_is_an_input(predictor):
    texts = ["某顶流明星机场私服曝光", "你这个傻逼"]
    as_comments = predictor.predict(texts, kind="comment")
    assert all(pred.scores["celebrity_hype"] is None for pred in as_comments)  # hype does not apply to comments
    assert all(pred.scores["celebrity_hype"] is not None for pred in predictor.predict(texts))
    mixed = predictor.predict(texts, kind=["title", "comment"])
    assert mixed[1].scores == as_comments[1].scores
    with pytest.raises(ValueError, match="unknown text kind"):
        predictor.predict(texts, kind="tweet")
    frame = predictor.predict_series(pd.Series(texts, index=[5, 9]), kind="post")
    assert list(frame.index) == [5, 9] and frame["score_celebrity_hype"].notna().all()
