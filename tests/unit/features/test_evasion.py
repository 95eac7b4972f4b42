"""De-obfuscation (normalisation step 5, features/evasion.py): each rule, what it must leave
alone, its table's invariants, and compatibility with models pickled before it existed."""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinglang.features import evasion
from qinglang.features.normalize import TextNormalizer, normalize_text

TABLE = evasion.table()


def norm(text: str) -> str:
    return normalize_text(text)


# --- each rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("你這個垃圾，說話啊", "你这个垃圾,说话啊"),  # traditional → simplified
        ("傻筆", "傻逼"),  # 筆 → 笔, then the homophone 傻笔
        ("國際 笑話", "国际笑话"),
    ],
)
def test_traditional_becomes_simplified(raw, expected):
    assert norm(raw) == expected


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\ufe0f"])
def test_invisible_characters_are_deleted_everywhere(invisible):
    assert norm(f"傻{invisible}逼") == "傻逼"
    assert norm(f"s{invisible}b你") == "傻逼你"
    assert norm(f"hel{invisible}lo") == "hello"


@pytest.mark.parametrize(
    "sep", [" ", "  ", "\t", "*", "·", "|", "_", "/", ".", "\\", "-", "+", "=", "•", "・", " * ", "\u3000", "＊"]
)
def test_separators_between_chinese_characters_are_removed(sep):
    assert norm(f"你就是个傻{sep}逼") == "你就是个傻逼"
    assert norm(sep.join("你就是个傻逼")) == "你就是个傻逼"


def test_emoji_between_chinese_characters_move_to_the_end():
    assert norm("傻😀逼") == "傻逼😀"
    assert norm("你🐶吧") == "你吧🐶"
    assert norm("你😀是🌸傻❤️逼") == "你是傻逼😀🌸❤"  # the variation selector of ❤️ is invisible
    assert norm("好开心😀") == "好开心😀"  # not between two Chinese characters: stays


@pytest.mark.parametrize("form, word", sorted(TABLE.cjk.items()))
def test_every_chinese_homophone_form_maps_to_its_word(form, word):
    assert norm(f"你就是{form}吧") == f"你就是{word}吧"


@pytest.mark.parametrize("form, word", sorted(TABLE.latin.items()))
def test_every_latin_form_maps_next_to_chinese_text(form, word):
    assert norm(f"你就是{form}吧") == f"你就是{word}吧"
    assert norm(f"{form.upper()} 一个") == f"{word}一个"
    assert norm(f"你 {form}") == f"你{word}"


@pytest.mark.parametrize("form", sorted(TABLE.anywhere))
def test_unambiguous_latin_forms_map_even_alone(form):
    assert norm(f"{form}!!!") == f"{TABLE.latin[form]}!!!"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("煞 笔", "傻逼"),  # separators first, then the homophone
        ("卧*槽", "我操"),
        ("煞筆", "傻逼"),  # traditional first
        ("你 sb tmd", "你傻逼他妈的"),  # tmd becomes eligible once sb is Chinese
        ("傻b 逼", "傻逼逼"),  # the space is between two Chinese characters once 傻b is
        ("ＳＢ玩意儿", "傻逼玩意儿"),  # full width → sb → 傻逼
    ],
)
def test_rules_compose(raw, expected):
    assert norm(raw) == expected


# --- what must stay as it is ------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "i love you so much",
        "SB Nation",
        "nike sb dunk low",
        "usb sbc sbs",
        "nba nbc nb",
        "windows nt 4.0",
        "3.14 1,000 2024-10-01 12:30",
        "abc.def",
        "sb",
        "tmd",
        "shabi",
        "laji",
        "email me at a_b@c",
        "a * b = c",
        "north carolina nc",
    ],
)
def test_latin_only_text_is_untouched(text):
    assert norm(text) == normalize_text(text, deobfuscate=False)


@pytest.mark.parametrize(
    "text",
    [
        "nb公司发布新品",
        "这个nb了",
        "sm娱乐公司",
        "nbsb不是一个词",
        "sbnation报道",
        "usb接口坏了",
        "2b铅笔涨价",
        "我gun了",
        "zz正确",
        "刷新pb",
        "阿里巴巴nasdaq上市",
        "windows nt系统",
    ],
)
def test_latin_inside_words_and_ambiguous_abbreviations_are_untouched(text):
    assert norm(text) == normalize_text(text, deobfuscate=False)


@pytest.mark.parametrize(
    "text",
    [
        "长沙比亚迪工厂",
        "麻辣鸡被警方拘留",
        "我承认是我草率了",
        "哪吒2定档大年初一",
        "乾隆的十只猫",
        "武动乾坤第三季",
        "7旬老人抢收蒜薹",
        "王尼玛解说元宇宙",
        "球迷喊许昕我爱你马龙",
        "好朋友失恋找你哭可以糊弄他吗",
        "大爷还没意识到他马上成为景点",
        "周喆直是执剑人",
        "小儿麻痹症男孩",
        "你妹妹来了",
        "披萨比汉堡贵",
        "还有啥比这更好",
        "那些明星们沙雕的出圈方式",
        "男子扔垃圾把自己甩进垃圾车",
        "脑瘫少年用脚打游戏",
        "快乐色彩",
    ],
)
def test_ordinary_titles_keep_their_words(text):
    assert norm(text) == normalize_text(text, deobfuscate=False)


@pytest.mark.parametrize("form", sorted(TABLE.not_mapped))
def test_forms_listed_as_not_mapped_stay_unchanged(form):
    text = f"你{form}吧"
    assert norm(text) == normalize_text(text, deobfuscate=False)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("你好，世界", "你好,世界"),  # sentence punctuation is kept
        ("你好 ， 世界", "你好,世界"),  # ... without the spaces around it
        ("好 . 然后", "好然后"),  # a lone dot is a separator
        ("好😂！哈哈", "好😂!哈哈"),  # an emoji next to punctuation stays in place
        ("好吧...然后呢", "好吧...然后呢"),  # an ellipsis is not a separator
        ("好吧……然后呢", "好吧...然后呢"),  # (… folds to ... and the repeat is cut to three)
        ("#话题#今天", "#话题#今天"),  # hashtags
        ("[微笑]哈哈", "[微笑]哈哈"),  # Weibo bracket codes
        ("《书名》很好", "《书名》很好"),
        ("等等~好的", "等等~好的"),
        ("得分第1 第2", "得分第1 第2"),  # a digit is not Chinese: the space stays
        ("iphone 15 发布", "iphone 15 发布"),
    ],
)
def test_punctuation_and_markup_between_chinese_characters_are_kept(raw, expected):
    assert norm(raw) == expected


# --- stability and the tables ------------------------------------------------------------

PIECES = sorted(set(TABLE.latin) | set(TABLE.cjk) | set(TABLE.not_mapped)) + [
    "你",
    "是",
    "个",
    "傻",
    "逼",
    "筆",
    "國",
    " ",
    "  ",
    "*",
    ".",
    "..",
    "·",
    "😀",
    "\u200b",
    "s",
    "b",
    "a",
    "1",
    ",",
    "。",
    "哈",
    "@",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=25))
def test_normalising_twice_changes_nothing_even_on_dense_obfuscation(pieces):
    once = norm("".join(pieces))
    assert norm(once) == once


def test_no_word_contains_a_form_so_rewriting_terminates():
    forms = set(TABLE.latin) | set(TABLE.cjk)
    for word in set(TABLE.latin.values()) | set(TABLE.cjk.values()):
        assert not [f for f in forms if f in word], word


def test_t2s_map_is_a_fixed_point_and_leaves_simplified_words_alone():
    t2s = evasion.read_t2s()
    assert len(t2s) > 4000
    assert not set(t2s.values()) & set(t2s)  # one pass is enough
    assert not evasion.T2S_KEEP & set(t2s)
    assert t2s["國"] == "国" and t2s["筆"] == "笔" and t2s["說"] == "说"


def test_vendored_t2s_map_is_what_opencc_gives():
    pytest.importorskip("opencc")
    assert evasion.read_t2s() == evasion.build_t2s()


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({"latin": {"SB": {"word": "傻逼"}}}, "normalised form"),
        ({"latin": {"sb": {"word": "sb"}}}, "not all Chinese"),
        ({"latin": {"s_b": {"word": "傻逼"}}}, "lower-case letters"),
        ({"cjk": {"煞笔": {"word": "傻逼"}, "傻逼": {"word": "傻逼"}}}, "contains the form"),
        ({"cjk": {"b傻": {"word": "傻逼"}}}, "start with a Chinese"),
        ({"cjk": {"煞筆": {"word": "傻逼"}}}, "simplified"),
        ({"cjk": {"煞笔": {"word": "傻逼"}}, "not_mapped": {"煞笔": "why"}}, "not_mapped"),
    ],
)
def test_a_bad_table_is_refused_with_the_reason(raw, problem):
    with pytest.raises(ValueError, match=problem):
        evasion.Table(raw)


# --- models pickled before de-obfuscation existed ---------------------------------------


def old_normalizer(max_chars: int = 2000) -> TextNormalizer:
    """What unpickling a model saved before `deobfuscate` existed gives: its state has no
    such key."""
    current = TextNormalizer(max_chars)
    state = dict(current.__getstate__())
    del state["deobfuscate"]
    old = TextNormalizer.__new__(TextNormalizer)
    old.__setstate__(state)
    return old


def test_an_old_pickled_normalizer_behaves_exactly_as_before():
    old = pickle.loads(pickle.dumps(old_normalizer(100)))
    assert old.deobfuscate is False
    assert old.get_params() == {"max_chars": 100, "deobfuscate": False, "phonetic": None}
    texts = ["你就是个sb", "傻 逼", "煞筆", "傻😀逼", "ＳＢ玩意儿", "普通的标题"]
    assert old.transform(texts) == [normalize_text(t, 100, deobfuscate=False) for t in texts]
    assert old.transform(texts) != TextNormalizer(100).transform(texts)


def test_even_an_object_missing_the_attribute_altogether_does_not_deobfuscate():
    bare = TextNormalizer()
    del bare.deobfuscate
    assert bare.transform(["傻 逼"]) == ["傻 逼"]


def test_a_new_normalizer_round_trips_with_its_flag():
    for flag in (True, False):
        assert pickle.loads(pickle.dumps(TextNormalizer(deobfuscate=flag))).deobfuscate is flag


def test_a_mention_joined_by_a_removed_separator_is_a_mention_at_once():
    once = norm("caonima@ caonima")
    assert once == norm(once) == "操你妈 xuser"
