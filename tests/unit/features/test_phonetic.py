"""The phonetic map: pinyin and homophone spellings of lexicon terms back to the term, and
never an ordinary word."""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinglang.features.normalize import TextNormalizer, normalize_text
from qinglang.features.phonetic import PhoneticMap

TERMS = ["恶心", "奴隶", "去死", "垃圾", "傻逼", "sb", "滚"]  # the last two are not multi-character Chinese: ignored
DICTIONARY = {"努力": 50, "四川": 80, "恶心": 30, "奴隶": 20, "垃圾": 40, "拉机": 2, "母狗": 9}
ORDINARY = ["今天拉级赛开打", "他把ex前任拉黑了", "ex前任又上热搜", "ex前任的瓜", "我的ex"]


@pytest.fixture(scope="module")
def phonetic() -> PhoneticMap:
    return PhoneticMap.build(
        TERMS, [normalize_text(t) for t in ORDINARY], DICTIONARY, normalize_text, max_ordinary_hits=2
    )


def norm(text: str, phonetic: PhoneticMap) -> str:
    return normalize_text(text, phonetic=phonetic)


def test_only_multi_character_chinese_terms_are_mapped(phonetic):
    assert phonetic.terms == {"恶心", "奴隶", "去死", "垃圾", "傻逼"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("你真让人饿新", "你真让人恶心"),  # homophone characters
        ("你真让人e心", "你真让人恶心"),  # half Latin: a mixed form (恶 written as e)
        ("你就是个exin", "你就是个恶心"),  # full pinyin
        ("你是lajia", "你是lajia"),  # not a whole form
        ("你个垃圾 laji 快滚", "你个垃圾垃圾快滚"),  # full pinyin, and the spaces left between Chinese characters go
        ("你赶紧趣寺吧", "你赶紧去死吧"),
    ],
)
def test_spellings_of_terms_become_the_term(phonetic, text, expected):
    assert norm(text, phonetic) == expected


@pytest.mark.parametrize(
    "text",
    [
        "我们要努力学习",  # a dictionary word that sounds like 奴隶
        "他要去四川旅游",  # 去四 sounds like 去死, but 四川 is a word
        "拉级赛",  # seen in ordinary text
        "他的ex前任",  # a Latin form used in more than max_ordinary_hits ordinary texts
        "这人真恶心",  # the term itself
        "nike ex shoes",  # no Chinese next to it
    ],
)
def test_ordinary_words_are_left_alone(phonetic, text):
    assert norm(text, phonetic) == normalize_text(text)


def test_the_curated_table_keeps_its_own_forms_and_exclusions():
    mapped = PhoneticMap.build(["傻逼", "垃圾", "奴隶"], [], {}, normalize_text)
    assert mapped.latin == {"nuli": "奴隶", "nl": "奴隶"}  # sb, shabi, laji: curated; lj: curated not_mapped


def test_terms_that_sound_alike_become_the_most_frequent_dictionary_word():
    mapped = PhoneticMap.build(["亩狗", "木勾", "母狗"], [], DICTIONARY, normalize_text)
    assert set(mapped.keys.values()) == {"母狗"} and mapped.latin["mugou"] == "母狗"
    assert normalize_text("你这个亩狗", phonetic=mapped) == "你这个母狗"


def test_without_the_map_nothing_changes(phonetic):
    assert normalize_text("你真让人饿新") == "你真让人饿新"
    assert normalize_text("你真让人饿新", deobfuscate=False, phonetic=phonetic) == "你真让人饿新"


def test_private_use_characters_in_the_input_never_match(phonetic):
    text = "你" + "".join(phonetic.syllables[ord("恶")] + phonetic.syllables[ord("心")])
    assert norm(text, phonetic) == normalize_text(text)


def test_it_pickles_with_the_normaliser_and_behaves_the_same(phonetic):
    normalizer = TextNormalizer(phonetic=phonetic)
    again = pickle.loads(pickle.dumps(normalizer))
    texts = ["你真让人饿新", "我们要努力", "你就是个exin"]
    assert again.transform(texts) == normalizer.transform(texts) == ["你真让人恶心", "我们要努力", "你就是个恶心"]


def test_building_is_deterministic():
    a = PhoneticMap.build(TERMS, ORDINARY, DICTIONARY, normalize_text)
    b = PhoneticMap.build(list(reversed(TERMS)), ORDINARY, dict(reversed(DICTIONARY.items())), normalize_text)
    assert (a.latin, a.keys, a.protected, a.edge_words) == (b.latin, b.keys, b.protected, b.edge_words)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("恶饿心新奴努隶力去趣死寺四川垃拉圾级ex lajin，。😀 ")), max_size=30))
def test_normalising_twice_changes_nothing(phonetic, text):
    once = norm(text, phonetic)
    assert norm(once, phonetic) == once


def test_describe_lists_what_the_map_rewrites_and_spares(phonetic):
    described = phonetic.describe()
    assert described["latin"]["exin"] == "恶心" and "ex" not in described["latin"]
    assert "恶心" in described["homophone_terms"]
    assert {"努力", "拉级"} <= set(described["protected"])


def test_same_as_compares_maps_by_value(phonetic):
    """How a model shares one map between its template and fitted pipelines: by value, as
    equal maps need not pickle alike (frozensets keep no order)."""
    import copy

    twin = pickle.loads(pickle.dumps(copy.deepcopy(phonetic)))
    assert twin is not phonetic and twin.same_as(phonetic) and phonetic.same_as(twin)
    other = copy.deepcopy(phonetic)
    other.latin = {**other.latin, "zzq": "恶心"}
    assert not other.same_as(phonetic)
    assert not phonetic.same_as(None)
