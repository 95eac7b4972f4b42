"""CheckList-style behaviour of a model trained on real corpus slices: minimum
functionality, invariance and direction. Phrased as relations, not fixed scores.

Weibo bracket codes such as [微笑] are not neutral (often sarcastic), so they are not
used as invariance perturbations."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

NEUTRAL = ["明天全国大部分地区有雨", "国足今晚对阵日本", "教育部发布高考报名时间", "新款手机今日发布"]


def scores(trained, texts, key):
    bundle = trained[0].bundle
    return bundle.score_frame(texts)[f"score_{key}"].tolist()


@pytest.mark.parametrize(
    "key, positive",
    [
        ("online_violence", "你这个傻逼脑残，滚出去"),
        ("self_harm", "我真的不想活了，准备今晚就结束自己"),
        ("disinformation", "紧急通知：喝醋可以杀死病毒，转发救人"),
    ],
)
def test_minimum_functionality_obvious_positive_outscores_neutral(trained, key, positive):
    pos, *neutral = scores(trained, [positive, *NEUTRAL], key)
    assert pos > max(neutral)


@pytest.mark.parametrize("suffix", ["😀", "🌸", " ", "。"])
def test_invariance_to_a_neutral_emoji_or_punctuation(trained, suffix):
    texts = ["你这个傻逼脑残", "明天全国大部分地区有雨"]
    bundle = trained[0].bundle
    before = bundle.score_frame(texts)
    after = bundle.score_frame([t + suffix for t in texts])
    flag_cols = [c for c in before.columns if c.startswith("flag_")]
    assert before[flag_cols].equals(after[flag_cols])


def test_direction_adding_an_insult_raises_the_abuse_score(trained):
    base = "你说的这个观点我不同意"
    plain, insulted = scores(trained, [base, base + "，傻逼"], "online_violence")
    assert insulted > plain


def test_full_width_and_half_width_spellings_score_the_same(trained):
    a, b = scores(trained, ["ＳＢ玩意儿", "sb玩意儿"], "online_violence")
    assert a == pytest.approx(b)
