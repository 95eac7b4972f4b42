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


# Issue 19 (speed and memory): the faster paths must give exactly what they replace.

EDGE_TEXTS = [
    "",
    " ",
    "a",
    "ab",
    "\x00\x00a",
    "a\x00",
    "tab\there\t\tand  two  spaces",
    "行\n\n换行\r\n了",
    "全角\u3000\u3000空格",
    "lone \ud800 surrogate",
    "𠀀𠀁 astral 𠀀",
    "\U0010ffff\U0010ffffz",
    "哈哈哈哈哈哈",
    "😀😀😀abc😀",
]


def test_coded_char_ngrams_equal_sklearns_char_analyzer_on_raw_text():
    """Straight on the char analyzer (no normaliser in front), so white space runs, NUL,
    astral characters and lone surrogates reach it: the same known n-grams, counts and
    first-occurrence order as counting the analyzer's list."""
    from collections import Counter

    from sklearn.feature_extraction.text import TfidfVectorizer

    from qinglang.features.compiled import CodedCharVocabulary, _coded_char_entries

    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False).fit(EDGE_TEXTS + CORPUS)
    vocab = dict(tfidf.vocabulary_)
    coded = CodedCharVocabulary(vocab)
    analyzer = tfidf.build_analyzer()
    probes = EDGE_TEXTS + CORPUS + ["从没见过", "  ", "\t\t"]
    lengths, cols, counts = _coded_char_entries(probes, coded, 1, 3, tfidf._white_spaces)
    start = 0
    for text, n in zip(probes, lengths.tolist(), strict=True):
        expected = [(vocab[g], c) for g, c in Counter(analyzer(text)).items() if g in vocab]
        got = list(zip(cols[start : start + n].tolist(), counts[start : start + n].tolist(), strict=True))
        assert got == expected, text
        start += n
    assert start == len(cols)


def test_coded_char_vocabulary_is_a_mapping_and_pickles_as_its_arrays():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from qinglang.features.compiled import CodedCharVocabulary

    vocab = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False).fit(EDGE_TEXTS).vocabulary_
    vocab = {k: int(v) for k, v in vocab.items()}
    coded = CodedCharVocabulary(vocab)
    assert len(coded) == len(vocab) and dict(coded) == vocab
    assert all(coded[k] == v and k in coded for k, v in vocab.items())
    for missing in ("", "abcd", "zzz", "\x01", 3):
        assert missing not in coded
        with pytest.raises(KeyError):
            coded[missing]
    loaded = pickle.loads(pickle.dumps(coded))
    assert type(loaded) is CodedCharVocabulary and dict(loaded) == vocab
    np.testing.assert_array_equal(loaded.codes, coded.codes)
    np.testing.assert_array_equal(loaded.cols, coded.cols)


def test_compiling_keeps_one_char_vocabulary_and_sklearn_still_transforms():
    """After compiling, the char vectorizer's vocabulary_ is the coded one (one copy in the
    process), sklearn's own transform and feature names still work, and the pipeline pickles
    the coded vocabulary as its two arrays (loading never builds the 300k-string dict) and
    the word vocabulary with plain int values."""
    from qinglang.features.compiled import CodedCharVocabulary

    vec = fitted()
    expected = vec.transform(PROBES).toarray()
    names = vec.named_steps["tfidf"].get_feature_names_out().tolist()
    compiled = compile_features(vec)
    word, char = (step for _, step in vec.named_steps["tfidf"].transformer_list)
    assert isinstance(char.vocabulary_, CodedCharVocabulary)
    assert all(type(v) is int for v in word.vocabulary_.values())
    np.testing.assert_array_equal(vec.transform(PROBES).toarray(), expected)
    assert vec.named_steps["tfidf"].get_feature_names_out().tolist() == names
    again = pickle.loads(pickle.dumps(vec))
    word2, char2 = (step for _, step in again.named_steps["tfidf"].transformer_list)
    assert type(char2.vocabulary_) is CodedCharVocabulary and dict(char2.vocabulary_) == dict(char.vocabulary_)
    assert all(type(v) is int for v in word2.vocabulary_.values())
    np.testing.assert_array_equal(again.transform(PROBES).toarray(), expected)  # sklearn's path on the loaded one
    np.testing.assert_array_equal(
        compile_features(again).transform(PROBES).toarray(), compiled.transform(PROBES).toarray()
    )
    np.testing.assert_array_equal(
        compile_features(vec).transform(PROBES).toarray(), compiled.transform(PROBES).toarray()
    )


def test_an_old_vocabulary_with_numpy_int_values_compiles_to_the_same_rows():
    """Models saved before issue 19 hold sklearn's NumPy int64 vocabulary values."""
    vec = fitted()
    for _, step in vec.named_steps["tfidf"].transformer_list:
        step.vocabulary_ = {k: np.int64(v) for k, v in step.vocabulary_.items()}
    expected = vec.transform(PROBES + EDGE_TEXTS).toarray()
    old = pickle.loads(pickle.dumps(vec))
    np.testing.assert_allclose(
        compile_features(old).transform(PROBES + EDGE_TEXTS).toarray(), expected, rtol=1e-6, atol=1e-7
    )


def test_edge_texts_through_the_whole_pipeline_match_sklearn():
    vec = fitted()
    expected = vec.transform(EDGE_TEXTS).toarray()
    compiled = compile_features(vec)
    np.testing.assert_allclose(compiled.transform(EDGE_TEXTS).toarray(), expected, rtol=1e-6, atol=1e-7)
    for t in EDGE_TEXTS:
        np.testing.assert_allclose(
            compiled.transform([t]).toarray(), vec.transform([t]).toarray(), rtol=1e-6, atol=1e-7
        )


JIEBA_CASES = [
    "",
    "   ",
    "某顶流明星机场私服曝光",
    "张伟伟和李小龙在北京大学门口见面",  # names: the HMM path
    "iPhone15Pro发布会3.5%涨幅+C#&C++._-测试",
    "a+b=c 50.5% 100.00元 3.14159",
    "1.2.3.4 www.weibo.com 邮箱a_b@c.d",
    "你好，世界！你好。。。？？",
    "行一\r\n行二\n\n行三\t制表",
    "日本語のテキストと한국어",
    "𠀀𠀁鿖鿗龥",  # outside jieba's Chinese range
    "——……“引号”【括号】",
    "哈哈哈哈哈哈哈哈哈哈哈",
    "南京市长江大桥",
    "结婚的和尚未结婚的",
    "___ --- ... +++ %%%",
    "x" * 300 + "中文" * 200,
]


def _jieba_reference(tokenizer: JiebaTokenizer, text: str) -> list[str]:
    from qinglang.features.tokenizer import _ONLY_PUNCT

    return [t for t in tokenizer._jieba().cut(text, HMM=True) if not _ONLY_PUNCT.match(t)]


def test_segmenter_gives_jiebas_words():
    """The re-implemented precise mode must be jieba's, token for token (the features of a
    served model are the ones it was trained on). The whole archive and every corpus were
    compared when it was written (issue 19); these are the awkward cases."""
    from qinglang.features.tokenizer import _SEGMENTER_MATCHES_JIEBA, _Segmenter

    assert _SEGMENTER_MATCHES_JIEBA, "a new jieba: check _Segmenter against its code before enabling it"
    tok = JiebaTokenizer()
    segmenter = _Segmenter(tok._jieba())
    for text in JIEBA_CASES + CORPUS + PROBES + OBFUSCATED:
        expected = _jieba_reference(tok, text)
        assert segmenter.words(text) == expected, text
        assert tok(text) == expected, text


def test_segmenter_follows_user_words_and_force_split_words():
    from jieba import finalseg

    tok = JiebaTokenizer(user_words=[("顶流明星", 50000, None), ("私服曝光", None, "n")])
    texts = ["某顶流明星机场私服曝光", "顶流明星", "私服曝光了吗"]
    for text in texts:
        assert tok(text) == _jieba_reference(tok, text), text
    assert "顶流明星" in tok(texts[0])
    before = set(finalseg.Force_Split_Words)
    try:
        finalseg.add_force_split("伟伟")
        for text in JIEBA_CASES[:4]:
            assert tok(text) == _jieba_reference(tok, text), text
    finally:
        finalseg.Force_Split_Words.clear()
        finalseg.Force_Split_Words.update(before)


def test_tokenizer_without_hmm_is_still_jiebas():
    from qinglang.features.tokenizer import _ONLY_PUNCT

    tok = JiebaTokenizer(hmm=False)
    for text in JIEBA_CASES:
        assert tok(text) == [t for t in tok._jieba().cut(text, HMM=False) if not _ONLY_PUNCT.match(t)]


def test_another_jieba_version_runs_jieba_itself_with_the_hmm(monkeypatch):
    """With a jieba the re-implementation does not follow, jieba's own cut runs, with the
    HMM the model was trained with (not silently without it)."""
    import qinglang.features.tokenizer as tokenizer

    monkeypatch.setattr(tokenizer, "_SEGMENTER_MATCHES_JIEBA", False)
    tok = JiebaTokenizer()
    for text in JIEBA_CASES:
        assert tok(text) == _jieba_reference(tok, text), text


def test_unpickled_classifier_compiles_on_first_use_and_shares_its_phonetic_map(demo_bundle):
    """Compiling waits for first use (not inside pickle.load, whose memo is the load's peak);
    the compiled features are never pickled; the template pipeline's copy of the phonetic
    map is replaced by the fitted one when they are equal."""
    from qinglang.models.multilabel import _COMPILED

    clf = pickle.loads(pickle.dumps(demo_bundle.classifier))
    assert _COMPILED not in clf.__dict__
    before = clf.decision_function(PROBES)
    assert clf.__dict__[_COMPILED] is not None
    assert _COMPILED not in clf.__getstate__()
    template, fitted_map = clf.vectorizer.steps[0][1].phonetic, clf.vectorizer_.steps[0][1].phonetic
    if fitted_map is not None:
        assert template is fitted_map
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).decision_function(PROBES), before)


def test_small_and_large_batches_make_the_same_entries():
    """A few texts are assembled in Python, a batch in NumPy: the CSR arrays (columns,
    counts, segments, row pointers) must be equal element for element, or a text's score
    would depend on the size of its batch."""
    from qinglang.features.normalize import normalize_text

    vec = fitted()
    compiled = compile_features(vec)
    texts = EDGE_TEXTS + PROBES + OBFUSCATED
    large = compiled._entries(texts)
    normalized = [normalize_text(t, compiled.max_chars, compiled.deobfuscate, compiled.phonetic) for t in texts]
    small = compiled._small_entries(normalized)
    for a, b in zip(large, small, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
