"""The compiled feature path must equal scikit-learn's pipeline, for every setting it accepts."""

import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.pipeline import Pipeline

from qinglang.features.compiled import compile_features
from qinglang.features.normalize import TextNormalizer
from qinglang.features.tokenizer import JiebaTokenizer
from qinglang.features.vectorizer import FeatureSettings, build_vectorizer

CORPUS = [
    "某顶流明星机场私服曝光",
    "你这个傻逼滚出去！！！！",
    "明天全国大部分地区有雨",
    "喝醋能治新冠？转发给家人",
    "哈哈哈哈哈哈笑死我了",
    "＠小明 快看 https://t.cn/abc 这个",
    "今天天气不错 今天天气不错",
    "ＡＢＣ１２３ sb SB Sb",
    "家里有矿的富二代晒豪车",
    "我不想活了，太累了",
    "",
    "   ",
    "🙂🙂🙂",
    "a" * 5000,
]
PROBES = CORPUS + ["从没见过的词组合", "明星", "傻逼傻逼傻逼", "天气 雨 雨 雨", "x"]
OBFUSCATED = ["你这个傻 逼", "你這個傻逼", "你这个sb", "煞*笔滚", "傻😀逼", "傻\u200b逼", "ＳＢ玩意儿", "nike sb dunk"]


def fitted(**settings):
    tfidf_options = {k: settings.pop(k) for k in ("binary", "norm", "use_idf") if k in settings}
    vec = build_vectorizer(
        FeatureSettings(min_df=1, max_word_features=None, max_char_features=None, **settings), JiebaTokenizer()
    )
    for _, step in vec.named_steps["tfidf"].transformer_list:
        step.set_params(**tfidf_options)
    return vec.fit(CORPUS)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"sublinear_tf": False},
        {"binary": True},
        {"norm": None},
        {"use_idf": False},
        {"char_ngrams": (2, 4), "max_chars": 20},
    ],
)
def test_compiled_rows_equal_sklearn_one_text_and_batches(settings):
    vec = fitted(**settings)
    compiled = compile_features(vec)
    assert compiled is not None
    expected = vec.transform(PROBES).toarray()
    np.testing.assert_allclose(compiled.transform(PROBES).toarray(), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        np.vstack([compiled.transform([t]).toarray() for t in PROBES]), expected, rtol=1e-6, atol=1e-7
    )
    coef = np.random.default_rng(0).normal(size=(expected.shape[1], 3)).astype(np.float32)
    one_by_one = np.vstack([compiled.dot(t, coef) for t in PROBES])
    np.testing.assert_allclose(one_by_one, expected @ coef, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("deobfuscate", [True, False])
def test_compiled_path_follows_the_normalisers_deobfuscation_flag(deobfuscate):
    vec = fitted(deobfuscate=deobfuscate)
    compiled = compile_features(vec)
    assert compiled.deobfuscate is deobfuscate
    texts = PROBES + OBFUSCATED
    np.testing.assert_allclose(
        compiled.transform(texts).toarray(), vec.transform(texts).toarray(), rtol=1e-6, atol=1e-7
    )
    for t in texts:
        np.testing.assert_allclose(
            compiled.transform([t]).toarray(), vec.transform([t]).toarray(), rtol=1e-6, atol=1e-7
        )


def test_a_pipeline_pickled_before_deobfuscation_existed_compiles_without_it():
    vec = fitted()
    normalizer = vec.named_steps["normalize"]
    state = dict(normalizer.__getstate__())  # a copy: on Python 3.11 sklearn returns the live __dict__
    del state["deobfuscate"]  # what a model pickled before the flag existed carries
    normalizer.__dict__.clear()
    normalizer.__setstate__(state)
    old = pickle.loads(pickle.dumps(vec))
    assert old.named_steps["normalize"].deobfuscate is False
    compiled = compile_features(old)
    assert compiled.deobfuscate is False
    texts = PROBES + OBFUSCATED
    np.testing.assert_allclose(
        compiled.transform(texts).toarray(), old.transform(texts).toarray(), rtol=1e-6, atol=1e-7
    )


def test_big_batches_take_the_vectorised_path_and_still_match():
    vec = fitted()
    texts = PROBES * 40
    np.testing.assert_allclose(
        compile_features(vec).transform(texts).toarray(), vec.transform(texts).toarray(), rtol=1e-6, atol=1e-7
    )


def test_other_pipeline_shapes_are_not_compiled():
    counts = Pipeline([("normalize", TextNormalizer()), ("counts", CountVectorizer(analyzer="char"))]).fit(CORPUS)
    assert compile_features(counts) is None
    assert compile_features(CountVectorizer().fit(CORPUS)) is None
    vec = fitted()
    vec.named_steps["tfidf"].transformer_list[0][1].set_params(norm="l1")
    assert compile_features(vec) is None


def test_classifier_recompiles_after_unpickling_and_scores_as_sklearn(demo_bundle):
    clf = pickle.loads(pickle.dumps(demo_bundle.classifier))
    assert clf._compiled is not None
    texts = PROBES + ["某明星新发型曝光"] * 3
    reference = np.asarray(clf.vectorizer_.transform(texts) @ clf.coef_) + clf.intercept_
    np.testing.assert_allclose(clf.decision_function(texts), reference, rtol=1e-5, atol=1e-6)
    for t in texts:
        np.testing.assert_allclose(
            clf.decision_function([t])[0],
            np.asarray(clf.vectorizer_.transform([t]) @ clf.coef_)[0] + clf.intercept_,
            rtol=1e-5,
            atol=1e-6,
        )


def test_pickling_does_not_strip_the_compiled_path_from_the_original(demo_bundle):
    pickle.dumps(demo_bundle.classifier)
    assert demo_bundle.classifier._compiled is not None


def test_a_texts_score_does_not_depend_on_its_batch(demo_bundle):
    """Issue 19: one text scored alone (the one-by-one path), in a small batch and in a
    large one (the sparse-matrix path) gets the same numbers, bit for bit."""
    clf = demo_bundle.classifier
    texts = [
        "某明星官宣恋情引发热议",
        "今天北京下雪了",
        "网友晒出天价包包炫富",
        "你这个垃圾滚出去",
        "为什么猫咪喜欢纸箱",
    ]
    filler = [f"第{i}条填充的普通标题新闻" for i in range(60)]
    alone = np.vstack([clf.decision_function([t]) for t in texts])
    small = clf.decision_function(texts)
    large = clf.decision_function(filler[:30] + texts + filler[30:])[30:35]
    assert np.array_equal(alone, small) and np.array_equal(alone, large)
    proba_alone = np.vstack([clf.predict_proba([t]) for t in texts])
    assert np.array_equal(proba_alone, clf.predict_proba(filler + texts)[-5:], equal_nan=True)
