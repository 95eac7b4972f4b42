"""Out-of-core training: hashed TF-IDF, SGD per category over chunks, calibration on a
held-out slice of the stream; the fitted model behaves like the in-memory one."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

from qinglang.data.errors import DataError
from qinglang.data.loaders.tabular import iter_labeled_file
from qinglang.data.taxonomy import load_taxonomy
from qinglang.models.explain import drivers
from qinglang.models.streaming import HashedTfidf, StreamingClassifier
from qinglang.models.thresholds import DEFAULT_PROFILES

TEXTS = (
    [f"你这个傻逼滚开{i}号" for i in range(40)]
    + [f"今天天气很好适合散步{i}" for i in range(40)]
    + [f"垃圾废物快去死{i}" for i in range(40)]
    + [f"我们一起努力学习{i}" for i in range(40)]
)
Y = np.array([[1, np.nan]] * 40 + [[0, 0]] * 40 + [[1, 0]] * 40 + [[0, 1]] * 40, dtype=float)


def frame() -> pd.DataFrame:
    out = pd.DataFrame(Y, columns=["abuse", "study"])
    out.insert(0, "text", TEXTS)
    return out.iloc[np.random.default_rng(1).permutation(len(out))].reset_index(drop=True)


def chunked(n: int):
    f = frame()
    return lambda: (f.iloc[i : i + n] for i in range(0, len(f), n))


def model(**kw) -> StreamingClassifier:
    return StreamingClassifier(
        ["abuse", "study"], n_features=2**12, min_positives=3, validation_fraction=0.3, epochs=3, **kw
    )


def test_hashed_tfidf_counted_in_chunks_equals_sklearn_on_the_whole():
    texts = ["傻逼 滚", "天气 很好", "傻逼 天气", "滚 滚 滚"]
    ours = HashedTfidf("char", (1, 2), 2**10).count(texts[:2]).count(texts[2:]).finish()
    counts = HashingVectorizer(
        analyzer="char", ngram_range=(1, 2), n_features=2**10, alternate_sign=False, norm=None, lowercase=False
    ).transform(texts)
    expected = TfidfTransformer(sublinear_tf=True).fit(counts).transform(counts)
    np.testing.assert_allclose(ours.transform(texts).toarray(), expected.toarray(), rtol=1e-5, atol=1e-6)


def test_streamed_fit_learns_and_respects_unknown_labels():
    clf = model().fit_stream(chunked(37))
    assert clf.trained_.tolist() == [True, True]
    known = int((~np.isnan(Y[:, 1])).sum())  # 120: abuse-only rows leave study unknown
    assert 0 < clf.category_fits_["study"].n_known < known  # the validation slice is held out of fitting
    p = clf.predict_proba(["你这个傻逼滚开", "我们一起努力学习吧"])
    assert p[0, 0] > p[1, 0] and p[1, 1] > p[0, 1]
    assert set(clf.profiles_) == set(DEFAULT_PROFILES)  # the shipped operating points


def test_same_stream_and_seed_give_the_same_model():
    a, b = model().fit_stream(chunked(37)), model().fit_stream(chunked(37))
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.calibration_, b.calibration_)


def test_a_category_with_too_few_labels_is_reported_not_invented():
    clf = StreamingClassifier(["abuse", "study"], n_features=2**12, min_positives=500).fit_stream(chunked(50))
    assert not clf.trained_.any()
    assert np.isnan(clf.predict_proba(["傻逼"])).all() and clf.predict(["傻逼"]).sum() == 0
    assert "too few labeled examples" in clf.category_fits_["abuse"].reason


def test_an_empty_stream_is_refused():
    with pytest.raises(ValueError, match="stream is empty"):
        model().fit_stream(lambda: iter([]))


def test_it_pickles_and_explains_with_the_texts_own_ngrams():
    clf = model().fit_stream(chunked(64))
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(again.predict_proba(TEXTS[:5]), clf.predict_proba(TEXTS[:5]))
    found = drivers(clf, ["你这个傻逼滚开"], "abuse")[0]
    assert (
        found
        and {d.kind for d in found} <= {"word", "char"}
        and all(d.feature in "你这个傻逼滚开" or " " in d.feature for d in found)
    )


def test_a_labeled_file_read_in_chunks_is_checked_row_by_row(tmp_path):
    taxonomy = load_taxonomy()
    path = tmp_path / "big.csv"
    rows = ["text,online_violence"] + [f"文本{i},{i % 2}" for i in range(25)] + ["坏的一行,maybe"]
    path.write_text("\n".join(rows) + "\n", "utf-8")
    chunks = iter_labeled_file(path, taxonomy, 10)
    first = next(chunks)
    assert len(first) == 10 and first["online_violence"].tolist()[:2] == [0, 1] and first["trivial"].isna().all()
    with pytest.raises(DataError, match="is not 0, 1 or blank") as err:
        list(chunks)
    assert "row 27" in str(err.value)  # the file's own line number (header is line 1)
