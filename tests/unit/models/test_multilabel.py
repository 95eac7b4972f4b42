"""The estimator: partial labels, calibration, thresholds, untrained categories, pickling."""

import pickle

import numpy as np
import pandas as pd
import pytest

from qinglang.features.tokenizer import JiebaTokenizer
from qinglang.features.vectorizer import FeatureSettings, build_vectorizer
from qinglang.models.multilabel import MultiCategoryClassifier
from qinglang.models.thresholds import ThresholdRule, choose_threshold, operating_point

INSULTS = ["你这个傻逼", "滚你妈的蛋", "脑残东西", "垃圾人渣", "傻逼玩意儿", "去死吧废物", "蠢货闭嘴", "贱人滚"]
NEUTRAL = [
    "今天天气不错",
    "明天有小雨",
    "股市今日上涨",
    "球队赢得比赛",
    "新书发布会",
    "地铁延误十分钟",
    "春节放假安排",
    "城市马拉松开跑",
]
RUMOURS = [
    "喝醋能治新冠",
    "明天地震请转发",
    "吃香蕉致癌专家证实",
    "某地水源被投毒",
    "手机辐射致死",
    "大蒜可以治愈癌症",
    "官方秘密文件曝光",
    "疫苗里有芯片",
]


def make_data(n_repeat=4):
    texts, Y = [], []
    for r in range(n_repeat):
        for t in INSULTS:
            texts.append(f"{t}{r}")
            Y.append([1, np.nan])  # an abuse corpus: rumour label unknown
        for t in NEUTRAL:
            texts.append(f"{t}{r}")
            Y.append([0, np.nan])
        for t in RUMOURS:
            texts.append(f"{t}{r}")
            Y.append([np.nan, 1])  # a rumour corpus: abuse label unknown
        for t in NEUTRAL[:4]:
            texts.append(f"{t}新闻{r}")
            Y.append([np.nan, 0])
    return texts, np.array(Y, dtype=float)


def make_model(**kw):
    vec = build_vectorizer(FeatureSettings(min_df=1, max_word_features=None, max_char_features=None), JiebaTokenizer())
    params = dict(categories=["online_violence", "disinformation"], cv_folds=3, min_positives=5, random_state=0)
    params.update(kw)
    return MultiCategoryClassifier(vec, **params)


def test_fits_each_category_only_on_known_rows():
    texts, Y = make_data()
    model = make_model().fit(texts, Y)
    fits = model.category_fits_
    assert fits["online_violence"].n_known == int((~np.isnan(Y[:, 0])).sum())
    assert fits["disinformation"].n_known == int((~np.isnan(Y[:, 1])).sum())
    # had unknown been read as negative, rumours would be learned as "not abusive" and vice versa;
    # fitted on known rows only, rumour texts carry no abuse evidence either way
    proba = model.predict_proba(["你这个傻逼滚", "喝醋能治新冠吗"])
    assert proba[0, 0] > 0.5 and proba[1, 1] > 0.5
    assert proba.shape == (2, 2) and np.all((proba >= 0) & (proba <= 1))


def test_thresholds_are_stored_and_used_by_predict():
    texts, Y = make_data()
    model = make_model().fit(texts, Y)
    assert np.all((model.thresholds_ > 0) & (model.thresholds_ < 1))
    proba = model.predict_proba(texts[:10])
    np.testing.assert_array_equal(model.predict(texts[:10]), (proba >= model.thresholds_).astype(int))


def test_category_with_too_few_positives_is_not_trained_and_never_flagged():
    texts, Y = make_data()
    Y[:, 1] = np.where(np.isnan(Y[:, 1]), np.nan, 0)
    Y[0, 1] = 1
    model = make_model().fit(texts, Y)
    fit = model.category_fits_["disinformation"]
    assert not fit.trained and "1 positive" in fit.reason
    proba = model.predict_proba(["喝醋能治新冠"])
    assert np.isnan(proba[0, 1]) and model.predict(["喝醋能治新冠"])[0, 1] == 0


def test_accepts_a_label_dataframe_and_survives_pickling():
    texts, Y = make_data()
    frame = pd.DataFrame(Y, columns=["online_violence", "disinformation"]).astype("Int8")
    model = make_model().fit(pd.Series(texts), frame)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(clone.predict_proba(texts), model.predict_proba(texts))


def test_same_seed_same_model():
    texts, Y = make_data()
    a = make_model(random_state=7).fit(texts, Y)
    b = make_model(random_state=7).fit(texts, Y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.thresholds_, b.thresholds_)


@pytest.mark.parametrize("bad, message", [(lambda Y: Y[:3], "shape"), (lambda Y: np.full_like(Y, 2.0), "only 0, 1")])
def test_bad_labels_are_refused(bad, message):
    texts, Y = make_data()
    with pytest.raises(ValueError, match=message):
        make_model().fit(texts, bad(Y))


def test_threshold_rules():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
    assert choose_threshold(y, s, ThresholdRule("f1")) == (0.35, True)
    assert choose_threshold(y, s, ThresholdRule("precision", 1.0)) == (0.6, True)
    assert choose_threshold(y, s, ThresholdRule("recall", 1.0)) == (0.35, True)
    with pytest.raises(ValueError):
        ThresholdRule("precision")


def test_unreachable_target_falls_back_to_best_f1_or_disables():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.6])  # the top score is a negative: precision never reaches 1
    assert choose_threshold(y, s, ThresholdRule("precision", 1.0)) == (0.6, False)
    assert choose_threshold(y, s, ThresholdRule("precision", 1.0, unreachable="never")) == (float("inf"), False)
    point = operating_point(y, s, ThresholdRule("recall", 0.5))
    assert point.reached and point.threshold == 0.8 and point.recall == 0.5 and point.precision == 0.5


PROFILES = {
    "balanced": ThresholdRule(),
    "review": ThresholdRule("recall", 1.0),
    "auto": ThresholdRule("precision", 1.0, unreachable="never"),
}


def test_named_operating_points_are_stored_and_selectable_at_prediction():
    texts, Y = make_data()
    model = make_model(threshold_rules=PROFILES).fit(texts, Y)
    assert set(model.profiles_) == set(PROFILES) and model.default_profile_ == "balanced"
    np.testing.assert_array_equal(model.thresholds_, model.profiles_["balanced"])
    assert np.all(model.profiles_["review"] <= model.profiles_["balanced"])  # full recall never needs a higher bar
    proba = model.predict_proba(texts)
    for name in PROFILES:
        np.testing.assert_array_equal(model.predict(texts, profile=name), (proba >= model.profiles_[name]).astype(int))
    points = model.category_fits_["online_violence"].operating_points
    assert points["review"]["reached"] and points["review"]["recall"] == 1.0
    with pytest.raises(ValueError, match="unknown threshold profile 'strict'; this model has balanced, review, auto"):
        model.flags(proba, "strict")


def test_default_profile_must_be_one_of_the_rules():
    texts, Y = make_data()
    with pytest.raises(ValueError, match="default_profile 'strict'"):
        make_model(default_profile="strict").fit(texts, Y)


def test_nb_scaler_ratio_favours_features_of_positives():
    from scipy import sparse

    from qinglang.models.multilabel import NBScaler

    X = sparse.csr_matrix(np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float))
    scaler = NBScaler().fit(X, np.array([1, 1, 0, 0]))
    assert scaler.ratio_[0] > 0 > scaler.ratio_[1]


def test_nb_weighted_model_folds_the_ratio_into_its_coefficients():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from qinglang.models.multilabel import NBScaler

    texts, Y = make_data()
    model = make_model(nb_weighting=True).fit(texts, Y)
    known = ~np.isnan(Y[:, 0])
    features = model.vectorizer_.transform(texts).tocsr()[known]
    pipe = Pipeline(
        [
            ("nb", NBScaler()),
            (
                "lr",
                LogisticRegression(C=4.0, class_weight="balanced", solver="liblinear", max_iter=1000, random_state=0),
            ),
        ]
    )
    pipe.fit(features, Y[known, 0].astype(int))
    np.testing.assert_allclose(
        model.decision_function(np.array(texts)[known])[:, 0], pipe.decision_function(features), rtol=1e-4, atol=1e-4
    )


def test_label_frame_columns_are_matched_by_name_not_position():
    texts, Y = make_data()
    frame = pd.DataFrame(Y, columns=["online_violence", "disinformation"])
    a = make_model().fit(texts, frame)
    b = make_model().fit(texts, frame[["disinformation", "online_violence"]])
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="lacks columns"):
        make_model().fit(texts, frame[["online_violence"]])


def test_parallel_fit_matches_sequential_fit():
    texts, Y = make_data(n_repeat=30)  # per-category fits run in worker processes
    seq = make_model(n_jobs=1).fit(texts, Y)
    par = make_model(n_jobs=2).fit(texts, Y)
    np.testing.assert_array_equal(seq.coef_, par.coef_)
    np.testing.assert_array_equal(seq.thresholds_, par.thresholds_)


def test_macro_f1_threshold_maximises_the_mean_f1_of_both_classes():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = np.round(np.clip(0.35 * y + rng.random(400) * 0.8, 0, 1), 3)
    threshold, reached = choose_threshold(y, s, ThresholdRule("macro_f1"))
    best = max(np.unique(s), key=lambda t: f1_score(y, s >= t, average="macro"))
    assert reached and f1_score(y, s >= threshold, average="macro") == pytest.approx(
        f1_score(y, s >= best, average="macro")
    )
    # the positive-class optimum flags more: the negative class pays for it
    assert choose_threshold(y, s, ThresholdRule("f1"))[0] <= threshold


def test_category_params_override_settings_for_named_categories_only():
    texts, Y = make_data()
    plain = make_model().fit(texts, Y)
    mixed = make_model(category_params={"online_violence": {"nb_weighting": True, "C": 1.0}}).fit(texts, Y)
    nb = make_model(nb_weighting=True, C=1.0).fit(texts, Y)
    np.testing.assert_array_equal(mixed.coef_[:, 1], plain.coef_[:, 1])
    np.testing.assert_array_equal(mixed.coef_[:, 0], nb.coef_[:, 0])


@pytest.mark.parametrize(
    "params, message",
    [
        ({"violence": {"C": 1.0}}, r"unknown categories \['violence'\]"),
        ({"online_violence": {"alpha": 1.0}}, r"unknown settings \['alpha'\]"),
        ({"online_violence": {"nb_weighting": True, "self_training": {"n_positive": 5}}}, "cannot be combined"),
        ({"online_violence": {"self_training": {"n_positive": 5}}}, "no unlabeled texts"),
        ({"online_violence": {"topics": {"components": 4, "weight": 1.0}}}, "no unlabeled texts"),
        (
            {"online_violence": {"topics": {"components": 4, "weight": 1.0}, "nb_weighting": True}},
            "topics cannot be combined",
        ),
    ],
)
def test_bad_category_params_are_refused(params, message):
    texts, Y = make_data()
    with pytest.raises(ValueError, match=message):
        make_model(category_params=params).fit(texts, Y)


def test_self_training_labels_confident_unlabeled_rows_and_keeps_folds_clean(monkeypatch):
    from qinglang.models import multilabel

    texts, Y = make_data()
    unlabeled = [f"{t}又来了{i}" for i in range(3) for t in INSULTS + NEUTRAL]
    seen_sizes = []
    original_fit = multilabel.SelfTrainedClassifier.fit

    def spy(self, X, y):
        seen_sizes.append(X.shape[0])
        return original_fit(self, X, y)

    monkeypatch.setattr(multilabel.SelfTrainedClassifier, "fit", spy)
    model = make_model(
        category_params={"online_violence": {"self_training": {"n_positive": 6, "weight": 0.5}}}, n_jobs=1
    )
    model.fit(texts, Y, unlabeled=unlabeled)
    fit = model.category_fits_["online_violence"]
    n_known = fit.n_known
    # 3 cross-validation folds fit on part of the labeled rows, then the final fit on all of them
    assert len(seen_sizes) == 4 and max(seen_sizes[:3]) < n_known and seen_sizes[3] == n_known
    assert fit.pseudo_labeled == {"positive": 6, "negative": 6}  # the labeled rows are half positive
    assert model.category_fits_["disinformation"].pseudo_labeled is None
    proba = model.predict_proba(["你这个傻逼滚", "今天天气不错"])
    assert proba[0, 0] > 0.5 > proba[1, 0]


def test_self_trained_classifier_picks_top_and_bottom_scores_at_the_labeled_ratio():
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    from qinglang.models.multilabel import SelfTrainedClassifier, Shared

    X = sparse.csr_matrix(np.array([[1.0, 0], [1, 0], [0, 1], [0, 1], [0, 1], [0, 1]]))
    y = np.array([1, 1, 0, 0, 0, 0])
    U = sparse.csr_matrix(np.array([[2.0, 0], [0, 2], [1, 1], [0, 3], [3, 0], [0, 1], [0, 2.5]]))
    model = SelfTrainedClassifier(LogisticRegression(), Shared(U), n_positive=2, weight=0.5).fit(X, y)
    assert model.n_pseudo_ == (2, 4)
    assert model.decision_function(sparse.csr_matrix([[1.0, 0]]))[0] > 0


def test_sample_weights_favour_the_weighted_rows_and_are_checked():
    texts, Y = make_data()
    plain = make_model().fit(texts, Y)
    weights = np.where(np.arange(len(texts)) % 2 == 0, 5.0, 1.0)
    weighted = make_model().fit(texts, Y, sample_weight=weights)
    assert not np.allclose(plain.coef_, weighted.coef_)
    again = make_model().fit(texts, Y, sample_weight=weights)
    np.testing.assert_array_equal(weighted.coef_, again.coef_)  # deterministic
    with pytest.raises(ValueError, match="sample_weight must be"):
        make_model().fit(texts, Y, sample_weight=weights[:-1])
    with pytest.raises(ValueError, match="sample_weight must be"):
        make_model().fit(texts, Y, sample_weight=np.zeros(len(texts)))


def test_weak_rows_join_the_fit_but_never_calibration():
    from qinglang.models.multilabel import WeakRows

    texts, Y = make_data()
    weak_texts = [f"{t}弱{i}" for i, t in enumerate(INSULTS * 6)]
    weak = WeakRows(weak_texts, np.array([[1.0, np.nan]] * len(weak_texts)), "title", 0.3)
    plain = make_model().fit(texts, Y)
    with_weak = make_model().fit(texts, Y, weak=weak)
    fit = with_weak.category_fits_["online_violence"]
    assert fit.n_known == plain.category_fits_["online_violence"].n_known  # weak rows do not calibrate
    assert not np.allclose(plain.coef_[:, 0], with_weak.coef_[:, 0][: plain.coef_.shape[0]]) or (
        with_weak.coef_.shape != plain.coef_.shape
    )
    assert with_weak.category_fits_["disinformation"].n_known == plain.category_fits_["disinformation"].n_known


def test_a_category_can_be_fitted_on_one_feature_block():
    texts, Y = make_data()
    clf = make_model(category_params={"online_violence": {"features": "char"}}).fit(texts, Y)
    blocks = clf._feature_blocks(clf.coef_.shape[0])
    assert not clf.coef_[blocks["word"], 0].any() and clf.coef_[blocks["char"], 0].any()
    assert clf.coef_[blocks["word"], 1].any()  # the other category keeps every feature
    with pytest.raises(ValueError, match="features must be all, word or char"):
        make_model(category_params={"online_violence": {"features": "pixels"}}).fit(texts, Y)


def topic_model(**kw):
    params = {"online_violence": {"features": "char", "topics": {"components": 4, "weight": 1.0}}}
    return make_model(category_params=params, n_jobs=1, **kw)


UNLABELED = [f"{a}{b}" for a in INSULTS + NEUTRAL + RUMOURS for b in ("啊", "了", "吗")]


def test_topics_fold_into_word_coefficients_that_score_like_the_projected_model():
    """A category with `topics` is fitted on its own block plus the unlabeled pool's word
    topics; its stored coefficients are the same linear function over ordinary features,
    so predictions need no projection at serving time."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    from qinglang.models.multilabel import TopicProjection, topic_basis

    texts, Y = make_data()
    clf = topic_model().fit(texts, Y, unlabeled=UNLABELED)
    blocks = clf._feature_blocks(clf.coef_.shape[0])
    assert clf.coef_[blocks["word"], 0].any() and clf.coef_[blocks["char"], 0].any()
    # rebuild the projection and the fit by hand: same scores as the folded coefficients
    X = clf.transform(texts)
    pool = clf.transform(UNLABELED)
    vocab = dict(clf.vectorizer_.named_steps["tfidf"].transformer_list)["word"].vocabulary_
    words = np.sort([blocks["word"].start + i for t, i in vocab.items() if " " not in t])
    proj = TopicProjection(blocks["char"], words, topic_basis(pool, words, 4, 0), 1.0)
    known = ~np.isnan(Y[:, 0])
    lr = LogisticRegression(C=4.0, class_weight="balanced", solver="liblinear", max_iter=1000, random_state=0)
    lr.fit(proj.features(X[known]), Y[known, 0].astype(int))
    probe = clf.transform(["你这个傻逼滚", "今天天气不错啊", "垃圾吗"])
    expected = lr.decision_function(proj.features(probe))
    folded = probe @ clf.coef_[:, 0] + clf.intercept_[0]
    np.testing.assert_allclose(folded, expected, atol=1e-3)  # coef_ is float32
    assert (
        sparse.issparse(proj.features(probe))
        and proj.features(probe).shape[1] == blocks["char"].stop - blocks["char"].start + proj.basis.value.shape[1]
    )


def test_topics_are_deterministic_and_leave_other_categories_alone():
    texts, Y = make_data()
    a = topic_model().fit(texts, Y, unlabeled=UNLABELED)
    b = topic_model().fit(texts, Y, unlabeled=UNLABELED)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    plain = make_model(category_params={"online_violence": {"features": "char"}}, n_jobs=1).fit(texts, Y)
    np.testing.assert_array_equal(a.coef_[:, 1], plain.coef_[:, 1])
    assert not np.allclose(a.coef_[:, 0], plain.coef_[:, 0])
    proba = pickle.loads(pickle.dumps(a)).predict_proba(["你这个傻逼滚", "今天天气不错"])
    assert proba[0, 0] > 0.5 > proba[1, 0]


def test_topics_need_a_word_block_and_enough_unlabeled_rows():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    texts, Y = make_data()
    chars_only = Pipeline([("tfidf", TfidfVectorizer(analyzer="char"))])
    params = {"online_violence": {"topics": {"components": 4, "weight": 1.0}}}
    with pytest.raises(ValueError, match="need the vectorizer's word block"):
        MultiCategoryClassifier(
            chars_only, ["online_violence", "disinformation"], cv_folds=3, min_positives=5, category_params=params
        ).fit(texts, Y, unlabeled=UNLABELED)
    with pytest.raises(ValueError, match="topics need more unlabeled rows"):
        topic_model().fit(texts, Y, unlabeled=["啊"])


@pytest.mark.parametrize("text", [" ", "\u3000", "\u200b", "\u0000", "\t\n", "？！…。", "\u200b\u3000 ，"])
def test_content_free_texts_get_no_score_and_no_flag(demo_bundle, text):
    """Issue 19: spaces, invisible or control characters and punctuation alone are nothing
    to judge: NaN for every category at every operating point, never a flag."""
    for profile in demo_bundle.profiles:
        frame = demo_bundle.score_frame([text, "明星官宣恋情"], profile=profile)
        assert frame.filter(like="score_").iloc[0].isna().all()
        assert frame.filter(like="flag_").iloc[0].sum() == 0
    assert demo_bundle.score_frame(["明星官宣恋情"])["score_celebrity_hype"].notna().all()


@pytest.mark.parametrize("text", ["a", "1", "😡", "明"])
def test_one_letter_digit_or_symbol_is_content(demo_bundle, text):
    assert demo_bundle.score_frame([text])["score_celebrity_hype"].notna().all()


def test_transform_is_the_pipelines_matrix_whether_compiled_or_not():
    """`transform` goes through the compiled features (whose char vocabulary replaces the
    vectorizer's dict): it must give the fitted pipeline's matrix (explain and label
    selection read it)."""
    texts, Y = make_data()
    model = make_model().fit(texts, Y)
    probe = ["你这个傻逼滚", "喝醋能治新冠吗", "  ", "ＡＢＣ 哈哈哈哈哈", *texts[:20]]
    compiled = model.transform(probe)
    assert model._compiled is not None
    plain = model.vectorizer_.transform(probe).tocsr()
    # the compiled weights are computed in float64 and rounded to float32 once; sklearn's in
    # float32 throughout: the same entries, equal to float32 precision
    np.testing.assert_array_equal(compiled.toarray() != 0, plain.toarray() != 0)
    np.testing.assert_allclose(compiled.toarray(), plain.toarray(), rtol=1e-6, atol=0)
