"""The taxonomy's `lexicons` field, the lexicon readers and the keyword baseline, on small
lexicon files written in the native formats (one term a line; JSON term -> token ids)."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import yaml

from qinglang.data.errors import DataError
from qinglang.data.loaders.lexicons import LEXICONS, read_lexicon
from qinglang.data.taxonomy import Taxonomy, load_taxonomy
from qinglang.models.keyword import KeywordBaseline

VOCAB = "lexicons/sensitive-lexicon/Vocabulary"
INSULTS = "toxicn/lexicon"


@pytest.fixture()
def lexicon_dir(tmp_path):
    vocab = tmp_path / VOCAB
    vocab.mkdir(parents=True)
    # BOM, CRLF, stray spaces, blank lines, a duplicate, upper case, a one-character term
    (vocab / "色情类型.txt").write_bytes("\ufeff裸聊 \r\n\r\n  成人电影\r\n裸聊\r\nAV女优\r\n屄\r\n".encode("utf-8"))
    (vocab / "涉枪涉爆.txt").write_text("出售雷管\nwww.guns.com\n", "utf-8")
    insults = tmp_path / INSULTS
    insults.mkdir(parents=True)
    (insults / "general.json").write_text(json.dumps({"傻逼": [1004, 6873], "SB": [5, 6], "狗": [4318]}), "utf-8")
    (insults / "region.json").write_text(json.dumps({"nt": [1, 2], "傻逼": [1004, 6873]}), "utf-8")
    return tmp_path


def taxonomy_with(lexicons: dict[str, dict[str, list[str]]]) -> Taxonomy:
    raw = load_taxonomy().to_dict()
    for entry in raw["categories"]:
        entry["lexicons"] = lexicons.get(entry["key"], {})
    return Taxonomy.from_dict(raw)


@pytest.fixture()
def baseline(lexicon_dir):
    tax = taxonomy_with(
        {
            "pornography": {"sensitive_lexicon": ["色情类型.txt"]},
            "online_violence": {"toxicn_insults": ["general.json", "region.json"]},
        }
    )
    return KeywordBaseline.from_taxonomy(tax, lexicon_dir)


def col(model, key):
    return model.categories_.index(key)


# --- taxonomy ---------------------------------------------------------------------------


def test_shipped_taxonomy_names_lexicons_only_for_fitting_categories(taxonomy):
    mapped = {c.key: dict(c.lexicons) for c in taxonomy.categories if c.lexicons}
    assert mapped == {
        "pornography": {"sensitive_lexicon": ("色情类型.txt", "色情词库.txt")},
        "violence": {"sensitive_lexicon": ("涉枪涉爆.txt",)},
        "online_violence": {
            "toxicn_insults": ("general.json", "LGBT.json", "region.json", "racism.json", "sexism.json")
        },
    }
    assert taxonomy["trivial"].lexicons == {}


def test_lexicons_round_trip_through_dict_and_yaml(tmp_path, taxonomy):
    assert Taxonomy.from_dict(taxonomy.to_dict()) == taxonomy
    path = tmp_path / "tax.yaml"
    path.write_text(yaml.safe_dump(taxonomy.to_dict(), allow_unicode=True), "utf-8")
    assert load_taxonomy(path) == taxonomy


@pytest.mark.parametrize(
    "lexicons, message",
    [
        ({"keyword_soup": ["a.txt"]}, r"category #4 \(pornography\): unknown lexicon\(s\) \['keyword_soup'\]"),
        ({"sensitive_lexicon": "色情类型.txt"}, r"\(pornography\): lexicons.sensitive_lexicon must be a list"),
    ],
)
def test_bad_lexicons_field_is_refused_naming_the_category(taxonomy, lexicons, message):
    raw = taxonomy.to_dict()
    raw["categories"][3]["lexicons"] = lexicons
    with pytest.raises(DataError, match=message):
        Taxonomy.from_dict(raw)


def test_category_pickled_before_lexicons_existed_loads_with_none(taxonomy):
    cat = taxonomy["pornography"]
    old = pickle.loads(pickle.dumps(cat))
    del old.__dict__["lexicons"]  # what an older bundle's pickle holds
    assert pickle.loads(pickle.dumps(old)).lexicons == {}


# --- readers ----------------------------------------------------------------------------


def test_reader_strips_dedupes_and_keeps_order(lexicon_dir):
    assert read_lexicon("sensitive_lexicon", ["色情类型.txt"], lexicon_dir) == ["裸聊", "成人电影", "AV女优", "屄"]
    assert read_lexicon("toxicn_insults", ["general.json", "region.json"], lexicon_dir) == ["傻逼", "SB", "狗", "nt"]
    assert set(LEXICONS) == {"sensitive_lexicon", "toxicn_insults"}


@pytest.mark.parametrize(
    "name, file, content, message",
    [
        ("sensitive_lexicon", "bad.txt", "色情".encode("gb18030"), "bad.txt, row 1: not valid UTF-8"),
        ("toxicn_insults", "bad.json", b'{"a": [1,', "bad.json, row 1: not valid JSON"),
        ("toxicn_insults", "bad.json", b'["a", "b"]', "bad.json: expected a JSON object"),
        ("sensitive_lexicon", "absent.txt", None, "absent.txt: lexicon 'sensitive_lexicon': file not found"),
        ("toxicn_insults", "../general.json", None, "expected a file name inside"),
        ("no_such_lexicon", "a.txt", None, "unknown lexicon 'no_such_lexicon'"),
    ],
)
def test_unusable_lexicon_files_raise_data_error_naming_the_file(lexicon_dir, name, file, content, message):
    if content is not None:
        (lexicon_dir / LEXICONS[name].folder / file).write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_lexicon(name, [file], lexicon_dir)


def test_missing_lexicon_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="folder not found"):
        read_lexicon("toxicn_insults", ["general.json"], tmp_path)


def test_malformed_file_fails_the_baseline_build(lexicon_dir):
    (lexicon_dir / INSULTS / "general.json").write_text("{oops", "utf-8")
    tax = taxonomy_with({"online_violence": {"toxicn_insults": ["general.json"]}})
    with pytest.raises(DataError, match="general.json, row 1: not valid JSON"):
        KeywordBaseline.from_taxonomy(tax, lexicon_dir)


# --- baseline ---------------------------------------------------------------------------


def test_terms_are_normalised_and_short_or_url_terms_dropped(baseline, lexicon_dir):
    assert baseline.terms_ == {"pornography": ["裸聊", "成人电影", "av女优"], "online_violence": ["傻逼", "sb", "nt"]}
    assert baseline.dropped_ == {
        "pornography: shorter than 2 characters": 1,
        "online_violence: shorter than 2 characters": 1,
    }
    guns = KeywordBaseline.from_taxonomy(
        taxonomy_with({"violence": {"sensitive_lexicon": ["涉枪涉爆.txt"]}}), lexicon_dir
    )
    assert guns.terms_ == {"violence": ["出售雷管"]}
    assert guns.dropped_ == {"violence: becomes a URL/mention placeholder": 1}
    loose = KeywordBaseline.from_taxonomy(
        taxonomy_with({"online_violence": {"toxicn_insults": ["general.json"]}}), lexicon_dir, min_chars=1
    )
    assert "狗" in loose.terms_["online_violence"]


def test_predict_proba_is_one_zero_or_nan_without_lexicon(baseline):
    texts = ["加微信裸聊", "你这个傻逼", "明天全国大部分地区有雨", "小狗很可爱"]
    proba = baseline.predict_proba(texts)
    assert proba.shape == (4, len(baseline.categories_))
    assert list(baseline.has_lexicon_) == [k in ("pornography", "online_violence") for k in baseline.categories_]
    assert np.isnan(proba[:, ~baseline.has_lexicon_]).all()
    assert proba[:, col(baseline, "pornography")].tolist() == [1, 0, 0, 0]
    assert proba[:, col(baseline, "online_violence")].tolist() == [0, 1, 0, 0]  # 狗 (one character) is dropped
    flags = baseline.flags(proba)
    assert flags.dtype == np.int8 and flags.sum() == 2 and set(np.unique(flags)) <= {0, 1}


def test_matching_sees_the_models_normalisation(baseline):
    texts = ["ＳＢ一个", "看ＡＶ女优", "Av女优直播", "你真NT", "intel新品发布", "sb2024"]
    online = baseline.predict_proba(texts)[:, col(baseline, "online_violence")]
    porn = baseline.predict_proba(texts)[:, col(baseline, "pornography")]
    assert porn.tolist() == [0, 1, 1, 0, 0, 0]
    # full-width and upper case match; a Latin term inside a longer Latin word does not
    assert online.tolist() == [1, 0, 0, 1, 0, 0]


def test_series_and_list_give_the_same_result_and_dataframe_is_refused(baseline):
    texts = ["你这个傻逼", "今天天气不错"]
    np.testing.assert_array_equal(baseline.predict_proba(pd.Series(texts, index=[7, 9])), baseline.predict_proba(texts))
    assert baseline.predict_proba([]).shape == (0, len(baseline.categories_))
    with pytest.raises(TypeError):
        baseline.predict_proba(pd.DataFrame({"text": texts}))


def test_matches_lists_found_terms_per_category(baseline):
    # "SB" next to Chinese text is read as 傻逼 by the normaliser (issue 19): one term, not two
    assert baseline.matches("傻逼，加我裸聊，SB") == {"pornography": ["裸聊"], "online_violence": ["傻逼"]}
    assert baseline.matches("SB") == {"online_violence": ["sb"]}
    assert baseline.matches("明天全国大部分地区有雨") == {}


def test_lexicon_with_no_usable_term_is_refused(lexicon_dir):
    (lexicon_dir / INSULTS / "general.json").write_text(json.dumps({"狗": [1]}), "utf-8")
    tax = taxonomy_with({"online_violence": {"toxicn_insults": ["general.json"]}})
    with pytest.raises(DataError, match="online_violence.*no usable term"):
        KeywordBaseline.from_taxonomy(tax, lexicon_dir)
