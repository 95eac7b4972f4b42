import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qinglang.features.normalize import TextNormalizer, as_text_list, normalize_text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("ＡＢＣ１２３", "abc123"),  # full-width to half-width, lower-case
        ("SB  你好\t\n世界", "sb 你好 世界"),  # white space collapsed
        ("看 https://t.cn/A6xyz 啊", "看 xurl 啊"),  # URL replaced
        ("@黎启lee 你说呢", "xuser 你说呢"),  # mention replaced
        ("哈哈哈哈哈哈哈！！！！！", "哈哈哈!!!"),  # repeats cut to three
        ("  前后空格  ", "前后空格"),
    ],
)
def test_each_normalisation_step(raw, expected):
    assert normalize_text(raw, deobfuscate=False) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("ＡＢＣ１２３", "abc123"),
        ("SB  你好\t\n世界", "傻逼你好世界"),  # sb next to Chinese → 傻逼; spaces between Chinese removed
        ("hello  world\t你好", "hello world 你好"),  # spaces between Latin words (and next to Chinese) kept
        ("看 https://t.cn/A6xyz 啊", "看 xurl 啊"),
        ("@黎启lee 你说呢", "xuser 你说呢"),
        ("哈 哈 哈 哈 哈 哈！！！！！", "哈哈哈!!!"),  # joined first, then cut to three
        ("  前后空格  ", "前后空格"),
    ],
)
def test_each_step_with_deobfuscation_the_default(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("你～是～傻～逼", "你是傻逼"),  # full-width tilde → ~, then a chain of single characters
        ("傻丶逼 ˉ 你", "傻逼你"),  # a stroke and a tone mark are separators
        ("傻※逼", "傻逼"),  # so is any other symbol
        ("傻…逼", "傻逼"),  # … → ... (NFKC), an ellipsis inside a known word
        ("ＴＭＤ，这也太", "他妈的,这也太"),  # full width → tmd, next to Chinese past the comma
        ("真尼玛恶心,王尼玛", "真你妈恶心,王尼玛"),  # slang, and its ordinary context
    ],
)
def test_separators_as_a_class_and_slang_issue_19(raw, expected):
    assert normalize_text(raw) == expected
    assert normalize_text(raw, deobfuscate=False) != expected


def test_ordinary_punctuation_between_chinese_characters_stays():
    assert normalize_text("苹果、香蕉、橘子…都好~谢谢") == "苹果、香蕉、橘子...都好~谢谢"


def test_truncates_to_max_chars():
    assert len(normalize_text("字" * 10_000, max_chars=100)) <= 100


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_normalised_text_is_stable_and_bounded(text):
    out = normalize_text(text, max_chars=200)
    assert out == out.strip()
    assert "  " not in out
    assert normalize_text(out, max_chars=10_000) == out


def test_dataframe_input_is_refused_not_silently_collapsed():
    frame = pd.DataFrame({"text": ["一", "二"]})
    with pytest.raises(TypeError, match="not a DataFrame"):
        TextNormalizer().transform(frame)
    assert TextNormalizer().transform(frame["text"]) == ["一", "二"]


@pytest.mark.parametrize("bad", ["single string", [1, 2], ["ok", None], 42])
def test_wrong_types_get_a_clear_error(bad):
    with pytest.raises(TypeError):
        as_text_list(bad)
