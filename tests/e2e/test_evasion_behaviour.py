"""CheckList-style invariance of a model trained on real corpus slices to the disguises
people put on insults (normalisation step 5, features/evasion.py): writing an insult with
separators, in traditional characters, as its pinyin abbreviation, in full width, with
zero-width characters or with emoji inside must leave its online_violence score (nearly)
where it was. Phrased as relations between scores, not fixed values.

benchmarks/bench_robustness.py measures the same on the whole COLD test split."""

from __future__ import annotations

import pickle

import pytest

from qinglang.features.compiled import compile_features

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

KEY = "online_violence"
INSULTS = ["你这个傻逼脑残，滚出去", "你就是个傻逼吧", "他妈的傻逼玩意儿"]
NEUTRAL = ["明天全国大部分地区有雨", "国足今晚对阵日本"]

# Disguises that the normaliser undoes exactly: the score must not move at all.
EXACT = {
    "spaces": lambda t: " ".join(t),
    "symbols": lambda t: "*".join(t[:4]) + "·".join(t[4:]),
    "dots and bars": lambda t: ".".join(t[:3]) + "|".join(t[3:]),
    "zero-width": lambda t: "\u200b".join(t),
    "traditional": lambda t: t.translate(
        str.maketrans("这个傻逼脑残滚出去他妈的么玩儿", "這個傻逼腦殘滾出去他媽的麼玩兒")
    ),
    "full width": lambda t: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in t),
    # Issue 19: separators outside the old set, as a class.
    "strokes, tone and combining marks": lambda t: "".join(
        c + "丶ˉ\u0336※¦"[k % 5] if k < len(t) - 1 else c for k, c in enumerate(t)
    ),
    "tildes between every character": lambda t: "~".join(t),
    "enumeration commas between every character": lambda t: "、".join(t),
}


def score_and_flag(bundle, texts):
    frame = bundle.score_frame(
        texts, kind="comment"
    )  # insults are judged as comments: titles get no online_violence flags
    return frame[f"score_{KEY}"].tolist(), frame[f"flag_{KEY}"].tolist()


@pytest.fixture(scope="module")
def bundle(trained):
    return trained[0].bundle


def test_the_model_is_trained_with_deobfuscation(bundle):
    assert bundle.classifier.vectorizer_.named_steps["normalize"].deobfuscate is True
    assert bundle.classifier._compiled.deobfuscate is True


def test_the_insults_are_flagged_to_begin_with(bundle):
    _, flags = score_and_flag(bundle, INSULTS)
    assert all(flags)


@pytest.mark.parametrize("disguise", sorted(EXACT))
def test_invariance_to_disguises_the_normaliser_undoes(bundle, disguise):
    texts = INSULTS + NEUTRAL
    before_scores, before_flags = score_and_flag(bundle, texts)
    after_scores, after_flags = score_and_flag(bundle, [EXACT[disguise](t) for t in texts])
    assert after_flags == before_flags
    assert after_scores == pytest.approx(before_scores, abs=1e-6)


@pytest.mark.parametrize(
    "plain, abbreviated",
    [
        ("你就是个傻逼吧", "你就是个sb吧"),
        ("你就是个傻逼吧", "你就是个SB吧"),
        ("你就是个傻逼吧", "你就是个 shabi 吧"),
        ("他妈的傻逼玩意儿", "tmd傻逼玩意儿"),
        ("你就是个傻逼吧", "你就是个煞笔吧"),
        ("你就是个傻逼吧", "你就是个煞 筆吧"),
    ],
)
def test_invariance_to_pinyin_abbreviations_and_known_homophones(bundle, plain, abbreviated):
    (s_plain, s_abbr), (f_plain, f_abbr) = score_and_flag(bundle, [plain, abbreviated])
    assert f_abbr == f_plain == 1
    assert s_abbr == pytest.approx(s_plain, abs=1e-6)  # the normaliser writes the word back


@pytest.mark.parametrize(
    "plain, slang",
    [
        ("你真是个垃圾，滚", "你真是个辣鸡，gun"),
        ("你这个智障", "你这个zz"),
        ("你这个脑残", "你这个nc"),
        ("真你妈恶心", "真尼玛恶心"),
        ("扬州人都是婊子养的", "扬州人都是女表子养的"),
        ("你就是个傻逼吧", "你就是个傻~逼吧"),  # soft punctuation inside a known word
    ],
)
def test_invariance_to_slang_issue_19(bundle, plain, slang):
    (s_plain, s_slang), _ = score_and_flag(bundle, [plain, slang])
    assert s_slang == pytest.approx(s_plain, abs=1e-6)


@pytest.mark.parametrize(
    "plain, mixed",
    [
        ("你真让人恶心，滚", "你真让人恶xin，滚"),
        ("你真让人恶心，滚", "你真让人e心，滚"),
        ("你赶紧去死吧", "你赶紧qu死吧"),  # 去死: slang.yaml's words, in no lexicon
        ("黑鬼滚出去", "黑gui滚出去"),
        ("你真让人恶心，滚", "你真让人恶、心，滚"),  # soft punctuation inside a lexicon term
    ],
)
def test_invariance_to_mixed_hanzi_pinyin_issue_19(bundle, plain, mixed):
    (s_plain, s_mixed), _ = score_and_flag(bundle, [plain, mixed])
    assert s_mixed == pytest.approx(s_plain, abs=1e-6)


def test_ordinary_slang_contexts_keep_their_score(bundle):
    """王尼玛, 麻辣鸡 and zz正确 are not insults: the slang table leaves them as written."""
    from qinglang.features.normalize import normalize_text

    phonetic = bundle.classifier.vectorizer_.named_steps["normalize"].phonetic
    for text in ("王尼玛解说元宇宙", "冬日麻辣鸡丝", "这部剧太zz正确了", "苹果、香蕉、橘子都好"):
        assert normalize_text(text, phonetic=phonetic) == normalize_text(text, deobfuscate=False)


def test_the_model_carries_a_phonetic_map_of_its_lexicon(bundle):
    phonetic = bundle.classifier.vectorizer_.named_steps["normalize"].phonetic
    assert phonetic is not None and bundle.classifier._compiled.phonetic is phonetic
    assert {"恶心", "垃圾", "弱智"} <= phonetic.terms  # ToxiCN's insult lexicon


@pytest.mark.parametrize(
    "plain, disguised",
    [
        ("你真让人恶心，滚", "你真让人饿新，滚"),  # homophone characters of a lexicon term
        ("你真让人恶心，滚", "你真让人exin，滚"),  # its full pinyin
        ("你真是个弱智，滚", "你真是个弱纸，滚"),
    ],
)
def test_invariance_to_pinyin_and_homophones_of_lexicon_terms(bundle, plain, disguised):
    (s_plain, s_disguised), _ = score_and_flag(bundle, [plain, disguised])
    assert s_disguised == pytest.approx(s_plain, abs=1e-6)


def test_ordinary_words_that_sound_like_insults_keep_their_score(bundle):
    """努力 sounds like the lexicon's 奴隶, 四川 starts like 去死: the map must not touch them."""
    from qinglang.features.normalize import normalize_text

    phonetic = bundle.classifier.vectorizer_.named_steps["normalize"].phonetic
    for text in ("我们一起努力吧", "他要去四川旅游", "今天天气不错"):
        assert normalize_text(text, phonetic=phonetic) == normalize_text(text)


def test_emoji_inside_an_insult_barely_move_its_score(bundle):
    texts = ["你就是个傻逼吧", "你就是个傻😀逼吧", "你就是个傻🌸逼吧", "你😀就是个傻🙂逼🔥吧"]
    scores, flags = score_and_flag(bundle, texts)
    assert flags == [1, 1, 1, 1]
    assert max(abs(s - scores[0]) for s in scores[1:]) < 0.05


def test_an_ordinary_abbreviation_is_not_turned_into_an_insult(bundle):
    (plain, nike), _ = score_and_flag(bundle, ["nike dunk low 新配色", "nike sb dunk low 新配色"])
    assert nike == pytest.approx(plain, abs=0.05)


def test_deobfuscation_is_what_buys_the_invariance(bundle):
    """The same model with the step switched off (as a model trained before it would run)
    scores a spaced-out insult lower than the insult; with it on, exactly the same."""
    off = pickle.loads(pickle.dumps(bundle.classifier))
    off.vectorizer_.named_steps["normalize"].deobfuscate = False
    off._compiled = compile_features(off.vectorizer_)
    plain, spaced = "你就是个傻逼吧", "你 就 是 个 傻 逼 吧"
    j = bundle.categories.index(KEY)
    on_scores = bundle.classifier.predict_proba([plain, spaced], "comment")[:, j]
    off_scores = off.predict_proba([plain, spaced], "comment")[:, j]
    assert on_scores[1] == pytest.approx(on_scores[0], abs=1e-6)
    assert off_scores[1] < on_scores[1]
