"""New-word discovery: frequent, cohesive, free-standing strings become words; fragments do not."""

from qinglang.features.new_words import MiningSettings, mine_new_words

FILLER = [
    "今天天气晴朗适合出游",
    "股市收盘上涨三个百分点",
    "地铁线路调整通知",
    "高考报名时间公布",
    "台风登陆沿海地区",
    "新能源汽车销量创新高",
    "博物馆推出夜场参观",
    "全国铁路迎来客流高峰",
    "研究发现每天步行有益健康",
]
TAILS = ("官宣恋情", "机场照", "新歌上线", "直播翻车", "演唱会")


def titles(names=("鹿言晗", "蔡予坤")):
    return [f"{name}{tail}" for name in names for tail in TAILS] + FILLER


def test_names_in_many_contexts_are_found_and_their_fragments_are_not():
    words = dict(mine_new_words(titles(), settings=MiningSettings(min_count=3)))
    assert set(words) == {"鹿言晗", "蔡予坤"} and words["鹿言晗"] == 5
    # 鹿言 is always followed by 晗: low right entropy, a fragment


def test_known_words_rare_strings_and_function_edges_are_left_out():
    assert mine_new_words(titles(), known={"鹿言晗"}, settings=MiningSettings(min_count=3)) == [("蔡予坤", 5)]
    assert mine_new_words(titles(), settings=MiningSettings(min_count=6)) == []
    edged = [f"{name}{tail}" for name in ("的予坤",) for tail in TAILS] + FILLER
    assert mine_new_words(edged, settings=MiningSettings(min_count=3)) == []


def test_a_text_repeated_counts_once_and_order_is_deterministic():
    once = mine_new_words(titles(), settings=MiningSettings(min_count=3))
    assert mine_new_words(titles() * 3, settings=MiningSettings(min_count=3)) == once
    assert [w for w, _ in once] == ["蔡予坤", "鹿言晗"]  # equal counts: alphabetical
