"""The keyword baseline built from the shipped taxonomy on the real lexicons, and what it
scores on real corpora (printed: run with -s to see the figures for the report)."""

import numpy as np
import pytest

from qinglang.data.loaders import read_native
from qinglang.models.keyword import KeywordBaseline

pytestmark = pytest.mark.corpora


@pytest.fixture(scope="module")
def baseline(data_dir, taxonomy):
    return KeywordBaseline.from_taxonomy(taxonomy, data_dir)


def column(baseline, texts, key):
    return baseline.flags(baseline.predict_proba(texts))[:, baseline.categories_.index(key)].astype(bool)


def test_builds_from_the_shipped_taxonomy(baseline, taxonomy):
    assert baseline.categories_ == taxonomy.keys
    assert {k: len(v) > 100 for k, v in baseline.terms_.items()} == {
        "pornography": True,
        "violence": True,
        "online_violence": True,
    }
    print("\nterms per category:", {k: len(v) for k, v in baseline.terms_.items()}, "dropped:", dict(baseline.dropped_))


@pytest.mark.parametrize(
    "text, key",
    [
        ("同城约炮，加微信看成人电影", "pornography"),
        ("出售雷管炸药，货到付款", "violence"),
        ("你就是个傻逼，脑残", "online_violence"),
        ("ＳＢ一个，滚", "online_violence"),
    ],
)
def test_obvious_texts_flag(baseline, text, key):
    assert column(baseline, [text], key)[0], baseline.matches(text)


@pytest.mark.parametrize(
    "text", ["明天全国大部分地区有雨", "国足世预赛名单公布", "高考志愿填报指南", "原来猫咪也会做梦"]
)
def test_ordinary_trending_texts_do_not_flag(baseline, text):
    assert baseline.matches(text) == {}
    assert np.nansum(baseline.predict_proba([text])) == 0


def test_rarely_flags_real_trending_titles(baseline, data_dir):
    rows = read_native("weibo_trending_labeled", data_dir).frame
    uniform = rows.loc[rows["sample"] == "uniform", "text"]
    flags = baseline.flags(baseline.predict_proba(uniform))
    rates = {k: float(flags[:, j].mean()) for j, k in enumerate(baseline.categories_) if baseline.has_lexicon_[j]}
    print(f"\nflag rate on {len(uniform)} uniformly drawn trending titles:", {k: f"{r:.2%}" for k, r in rates.items()})
    assert all(r < 0.03 for r in rates.values())


def test_online_violence_on_cold_test(baseline, data_dir):
    rows = read_native("cold", data_dir).frame
    test = rows[rows["split"] == "test"]
    offensive = np.array([native == ("offensive",) for native in test["native"]])
    flagged = column(baseline, test["text"], "online_violence")
    tp = int((flagged & offensive).sum())
    precision, recall = tp / max(int(flagged.sum()), 1), tp / int(offensive.sum())
    print(
        f"\nCOLD test ({len(test)} rows, {int(offensive.sum())} offensive): keyword baseline online_violence "
        f"precision {precision:.3f} recall {recall:.3f}, flags {flagged[~offensive].mean():.1%} of safe rows"
    )
    assert 0.05 < recall < 0.9
    assert precision > offensive.mean()  # better than flagging at random
