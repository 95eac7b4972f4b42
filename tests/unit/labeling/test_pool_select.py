"""Selecting a batch: pools from a table or the archive's native day files, labeled texts
and near-duplicates kept out, the stated random share, each strategy's order, and clear
errors for every bad request."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qinglang.data.errors import DataError
from qinglang.labeling.pool import NearDuplicateFilter, PoolSpec, labeled_texts, read_pool
from qinglang.labeling.select import SelectRequest, select_batch

SUBJECTS = ["北京", "上海", "广州", "深圳", "成都", "杭州"]
EVENTS = ["地铁新线开通", "暴雨红色预警", "马拉松开跑", "高考成绩公布", "博物馆夜场开放"]
TITLES = [f"{s}{e}" for s in SUBJECTS for e in EVENTS] + [
    "某明星官宣恋情",
    "某明星官宣恋情!",  # near-duplicate of the one before (punctuation)
    "某明星 官宣恋情了",  # near-duplicate (spacing, one character)
    "今日星座运势大揭秘",
    "塔罗牌告诉你下周运势",
    "风水大师教你转运",
    "为什么猫咪喜欢纸箱",
    "明星机场私服大赏",
]


@pytest.fixture()
def pool_file(tmp_path):
    path = tmp_path / "pool.csv"
    pd.DataFrame({"title": TITLES}).to_csv(path, index=False)
    return path


def test_near_duplicates_differ_by_punctuation_spacing_or_a_few_characters():
    dedup = NearDuplicateFilter(["某明星官宣恋情"])
    known = dedup.is_known(["某明星官宣恋情!", "某明星 官宣恋情了", "北京今天下雪", "另一位明星官宣结婚"])
    assert known.tolist() == [True, True, False, False]
    assert NearDuplicateFilter().accept(["北京今天下雪", "上海今天下雪", "北京今天下雪啦"], 3) == [0, 1]


def test_pool_from_a_table_drops_exact_duplicates_and_empty_texts(tmp_path):
    path = tmp_path / "p.csv"
    pd.DataFrame({"text": ["甲", "甲", " ", "乙"]}).to_csv(path, index=False)
    assert read_pool(PoolSpec(path))["text"].tolist() == ["甲", "乙"]
    with pytest.raises(DataError, match="no 'title' column"):
        read_pool(PoolSpec(path, text_column="title"))


def test_pool_from_the_archive_day_files(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "2024-07-01.json").write_text(json.dumps([{"url": "u", "title": "标题一"}, {"title": "标题二"}]), "utf-8")
    (folder / "2024-07-02.json").write_text(json.dumps([{"title": "标题二"}, {"title": "标题三"}]), "utf-8")
    pool = read_pool(PoolSpec(folder))
    assert pool["text"].tolist() == ["标题一", "标题二", "标题三"]
    assert str(pool["first_seen"].iloc[2].date()) == "2024-07-02"


def test_an_empty_pool_is_an_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("text\n", "utf-8")
    with pytest.raises(DataError, match="the pool has no texts"):
        read_pool(PoolSpec(path))


def test_labeled_texts_from_files_and_folders(tmp_path):
    (tmp_path / "lab").mkdir()
    pd.DataFrame({"text": ["a", "b"], "trivial": [1, 0]}).to_csv(tmp_path / "lab" / "x.csv", index=False)
    pd.DataFrame({"text": ["c"]}).to_json(tmp_path / "y.jsonl", orient="records", lines=True)
    assert labeled_texts([tmp_path / "lab", tmp_path / "y.jsonl"]) == ["a", "b", "c"]


@pytest.mark.parametrize("strategy", ["uncertainty", "likely-positive", "random"])
def test_a_batch_leaves_out_labeled_texts_and_near_duplicates(demo_bundle, pool_file, strategy):
    pool = read_pool(PoolSpec(pool_file, text_column="title"))
    request = SelectRequest(12, strategy, "celebrity_hype", random_share=0.25)
    selection = select_batch(request, demo_bundle, pool, labeled=["某明星官宣恋情"])
    texts = selection.batch["text"].tolist()
    assert not {"某明星官宣恋情", "某明星官宣恋情!", "某明星 官宣恋情了"} & set(texts)
    assert selection.excluded == 2  # "…!" is an exact duplicate key dropped by read_pool; the others are near
    assert len(texts) == 12 and len(set(texts)) == 12
    if strategy != "random":
        assert selection.counts == {strategy: 9, "random": 3}
    assert set(selection.batch.columns) >= {"item_id", "text", "kind", "selected_by"}


def test_likely_positive_puts_the_highest_scores_in_the_strategy_part(demo_bundle, pool_file):
    pool = read_pool(PoolSpec(pool_file, text_column="title"))
    selection = select_batch(
        SelectRequest(5, "likely-positive", "celebrity_hype", random_share=0), demo_bundle, pool, []
    )
    scores = demo_bundle.score_frame(pool["text"])["score_celebrity_hype"].to_numpy()
    top = set(pool["text"].to_numpy()[np.argsort(-scores)][:8])  # top 8: room for the near-duplicates skipped
    assert set(selection.batch["text"]) <= top


def test_seed_terms_mix_seed_hits_with_neighbours_that_lack_the_seeds(demo_bundle, pool_file):
    pool = read_pool(PoolSpec(pool_file, text_column="title"))
    request = SelectRequest(6, "seed-terms", "superstition", seeds=("运势",), random_share=0)
    batch = select_batch(request, demo_bundle, pool, []).batch
    assert set(batch["seed_hit"]) == {0, 1}
    hits = batch[batch["seed_hit"] == 1]["text"].tolist()
    assert sorted(hits) == sorted(["今日星座运势大揭秘", "塔罗牌告诉你下周运势"])


def test_the_same_request_gives_the_same_batch(demo_bundle, pool_file):
    pool = read_pool(PoolSpec(pool_file, text_column="title"))
    request = SelectRequest(10, "uncertainty", seed=3)
    first = select_batch(request, demo_bundle, pool, []).batch
    pd.testing.assert_frame_equal(first, select_batch(request, demo_bundle, pool, []).batch)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SelectRequest(5, "smart"), "unknown strategy 'smart'"),
        (SelectRequest(5, "uncertainty", "gossip"), "unknown category 'gossip'"),
        (SelectRequest(5, "likely-positive"), "needs --category"),
        (SelectRequest(5, "seed-terms", "superstition"), "needs --seeds"),
        (SelectRequest(5, "seed-terms", "superstition", seeds=("不存在的词",)), "no text of the pool contains"),
        (SelectRequest(5, "likely-positive", "wealth_flaunting"), "has no classifier in this model"),
        (SelectRequest(0, "random"), "--n must be at least 1"),
        (SelectRequest(5, "random", random_share=1.5), "--random-share"),
    ],
)
def test_bad_requests_are_clear_errors(demo_bundle, pool_file, request_, message):
    pool = read_pool(PoolSpec(pool_file, text_column="title"))
    with pytest.raises(DataError, match=message):
        select_batch(request_, demo_bundle, pool, [])


def test_a_pool_that_is_all_labeled_is_an_error(demo_bundle, pool_file):
    pool = read_pool(PoolSpec(pool_file, text_column="title"))
    with pytest.raises(DataError, match="every text of the pool is labeled"):
        select_batch(SelectRequest(5, "random"), demo_bundle, pool, labeled=TITLES)
