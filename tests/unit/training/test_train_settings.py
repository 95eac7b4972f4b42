"""Per-category training settings: label masking by source, and checks that fail before
any data is read."""

import numpy as np
import pandas as pd
import pytest

from qinglang.data.errors import DataError
from qinglang.training.config import TrainConfig
from qinglang.training.train import build_classifier, check_category_settings, fit_labels, tokenizer_for

KEYS = ["online_violence", "trivial"]


def config(**model_categories) -> TrainConfig:
    return TrainConfig.model_validate({"model": {"categories": model_categories}})


def test_fit_sources_turn_other_sources_labels_unknown_for_that_category_only():
    rows = pd.DataFrame(
        {
            "source": ["cold", "cyberbullying_roles", "cold"],
            "online_violence": [1.0, 1.0, 0.0],
            "trivial": [np.nan, 0.0, np.nan],
        }
    )
    labels = fit_labels(rows, KEYS, config(online_violence={"fit_sources": ["cold"]}))
    assert labels["online_violence"].tolist()[:1] == [1.0] and np.isnan(labels["online_violence"][1])
    assert labels["trivial"][1] == 0.0
    assert rows["online_violence"][1] == 1.0  # the caller's table is untouched


def test_fit_sources_must_name_sources_of_the_run():
    rows = pd.DataFrame({"source": ["cold"], "online_violence": [1.0], "trivial": [np.nan]})
    with pytest.raises(DataError, match=r"model.categories.online_violence.fit_sources names \['coldd'\]"):
        fit_labels(rows, KEYS, config(online_violence={"fit_sources": ["coldd"]}))


def test_unknown_category_and_self_training_without_archive_fail_early():
    with pytest.raises(DataError, match=r"model.categories names \['trivia'\]"):
        check_category_settings(config(trivia={"C": 1.0}), KEYS)
    with pytest.raises(DataError, match="needs data.unlabeled_archive"):
        check_category_settings(config(trivial={"self_training": {}}), KEYS)
    with pytest.raises(DataError, match=r"\['trivial'\] ask for topics, which need data.unlabeled_archive"):
        check_category_settings(config(trivial={"topics": {}}), KEYS)
    with pytest.raises(DataError, match="features.archive_words needs data.unlabeled_archive"):
        check_category_settings(TrainConfig.model_validate({"features": {"archive_words": {}}}), KEYS)


def test_without_unlabeled_texts_self_training_is_dropped_not_half_applied():
    from qinglang.data.taxonomy import load_taxonomy

    cfg = TrainConfig.model_validate(
        {
            "data": {"unlabeled_archive": {"before": "2024-07-01"}},
            "model": {"categories": {"trivial": {"self_training": {}, "C": 2.0}}},
        }
    )
    taxonomy = load_taxonomy()
    assert build_classifier(cfg, taxonomy).category_params == {"trivial": {"C": 2.0}}
    assert build_classifier(cfg, taxonomy, ["某标题"]).category_params["trivial"]["self_training"] == {
        "n_positive": 5000,
        "weight": 0.3,
    }


def test_without_unlabeled_texts_topics_are_dropped_and_with_them_passed_on():
    from qinglang.data.taxonomy import load_taxonomy

    cfg = TrainConfig.model_validate(
        {
            "data": {"unlabeled_archive": {"before": "2024-07-01"}},
            "model": {"categories": {"trivial": {"topics": {"components": 50}, "features": "char"}}},
        }
    )
    taxonomy = load_taxonomy()
    assert build_classifier(cfg, taxonomy).category_params == {"trivial": {"features": "char"}}
    assert build_classifier(cfg, taxonomy, ["某标题"]).category_params["trivial"]["topics"] == {
        "components": 50,
        "weight": 1.0,
    }


def test_archive_words_join_the_jieba_dictionary():
    cfg = TrainConfig.model_validate(
        {"data": {"unlabeled_archive": {"before": "2024-07-01"}}, "features": {"archive_words": {"min_count": 3}}}
    )
    titles = [
        f"{name}{tail}"
        for name in ("鹿言晗", "蔡予坤")
        for tail in ("官宣恋情", "机场照", "新歌上线", "直播翻车", "演唱会")
    ]
    titles += [
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
    tokenizer = tokenizer_for(cfg, titles)
    assert ("鹿言晗", None, None) in tokenizer.user_words
    assert "鹿言晗" in tokenizer("鹿言晗机场照")
    assert tokenizer_for(cfg, None).user_words == ()


def test_phonetic_settings_are_checked_before_any_data_is_read():
    with pytest.raises(DataError, match=r"features.phonetic.categories names \['online_violnce'\]"):
        check_category_settings(
            TrainConfig.model_validate({"features": {"phonetic": {"categories": ["online_violnce"]}}}), KEYS
        )
    with pytest.raises(DataError, match="features.phonetic needs features.deobfuscate: true"):
        check_category_settings(
            TrainConfig.model_validate(
                {"features": {"deobfuscate": False, "phonetic": {"categories": ["online_violence"]}}}
            ),
            KEYS,
        )


def test_the_phonetic_map_is_built_from_the_categorys_lexicon_and_travels_in_the_normaliser(tmp_path):
    from qinglang.data.taxonomy import load_taxonomy
    from qinglang.training.train import phonetic_map

    lexicon = tmp_path / "toxicn" / "lexicon"
    lexicon.mkdir(parents=True)
    for name in ("general.json", "LGBT.json", "region.json", "racism.json", "sexism.json"):
        (lexicon / name).write_text('{"恶心": [1], "奴隶": [2]}' if name == "general.json" else "{}", "utf-8")
    cfg = TrainConfig.model_validate({"features": {"phonetic": {"categories": ["online_violence"]}}})
    taxonomy = load_taxonomy()
    mapped = phonetic_map(cfg, taxonomy, tmp_path, ["我们一起努力吧", "今天的新闻"])
    assert mapped.terms == {"恶心", "奴隶"}
    assert phonetic_map(cfg, taxonomy, None, None) is None  # no data directory: no lexicon, no map
    normalizer = build_classifier(cfg, taxonomy, phonetic=mapped).vectorizer.named_steps["normalize"]
    assert normalizer.transform(["你真让人饿新", "我们一起努力吧"]) == ["你真让人恶心", "我们一起努力吧"]


def test_source_weights_favour_a_named_source_and_refuse_unknown_ones():
    import pandas as pd

    from qinglang.training.config import TrainConfig
    from qinglang.training.train import source_weights

    rows = pd.DataFrame({"source": ["inhouse", "cold", "inhouse"]})
    config = TrainConfig.model_validate({"data": {"source_weights": {"inhouse": 4.0}}})
    assert source_weights(config, rows).tolist() == [4.0, 1.0, 4.0]
    assert source_weights(TrainConfig(), rows) is None
    with pytest.raises(DataError, match="source_weights names \\['nope'\\]"):
        source_weights(TrainConfig.model_validate({"data": {"source_weights": {"nope": 2.0}}}), rows)
    with pytest.raises(ValueError, match="positive"):
        TrainConfig.model_validate({"data": {"source_weights": {"inhouse": 0}}})
