"""Backtests of the share estimators: periods never seen by their model, a reproducible
table and choice, and the JSON the audit reads."""

import math

import numpy as np
import pandas as pd
import pytest

from qinglang.data.errors import DataError
from qinglang.trending.backtest import (
    TABLE_COLUMNS,
    BacktestSpec,
    FullFit,
    calibrated_resolution,
    calibration_spread,
    choose_estimator,
    fit_period_model,
    load_backtest,
    load_labeled_titles,
    period_weak_rows,
    resolution,
    run_backtest,
    split_period,
    write_backtest,
)
from qinglang.trending.prevalence import ESTIMATORS

HYPE = ["明星", "机场", "私服", "红毯", "新剧", "官宣", "恋情", "路透", "同框", "演唱会"]
TRIVIAL = ["猫咪", "网友", "搞笑", "奶茶", "晚霞", "吐槽", "表情包", "萌宠", "段子", "早餐"]
NEWS = ["国务院", "通报", "地震", "发布", "经济", "会议", "航天", "高铁", "气象", "医保", "教育", "外交"]
SPEC = BacktestSpec(
    periods=(("2023H2", "2023-07-01", "2024-01-01"), ("2024H1", "2024-01-01", "2024-07-01")), seeds=(0, 1), n_boot=30
)


def _synthetic_titles(taxonomy, seed: int = 0, n: int = 700) -> pd.DataFrame:
    """Titles first seen 2022-01 … 2024-06 whose words depend on their labels."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        hype, trivial = rng.random() < 0.3, rng.random() < 0.2
        words = list(rng.choice(NEWS, 2))
        words += list(rng.choice(HYPE, 2)) if hype else ([rng.choice(HYPE)] if rng.random() < 0.1 else [])
        words += list(rng.choice(TRIVIAL, 2)) if trivial else ([rng.choice(TRIVIAL)] if rng.random() < 0.1 else [])
        rng.shuffle(words)
        labels = ";".join(k for k, on in (("celebrity_hype", hype), ("trivial", trivial)) if on)
        day = pd.Timestamp("2022-01-01") + pd.Timedelta(days=int(i * 910 / n))
        rows.append({"text": "".join(words) + str(i), "first_seen": day, "labels": labels})
    frame = pd.DataFrame(rows)
    frame["sample"] = np.where(rng.random(n) < 0.8, "uniform", "enriched")
    frame["split"] = "train"
    for key in taxonomy.keys:
        frame[key] = frame["labels"].str.split(";").map(lambda ks, key=key: int(key in ks)).astype(np.int8)
    return frame


def test_a_period_model_never_sees_its_period(taxonomy):
    labeled = _synthetic_titles(taxonomy)
    period = split_period(labeled, *SPEC.periods[1])
    assert period.fit["first_seen"].max() < period.start <= period.evaluate["first_seen"].min()
    assert period.evaluate["first_seen"].max() < period.end and (period.evaluate["sample"] == "uniform").all()


def test_same_data_and_seed_give_the_same_table_and_choice(taxonomy, tmp_path):
    labeled = _synthetic_titles(taxonomy)
    first, second = run_backtest(labeled, taxonomy, SPEC), run_backtest(labeled, taxonomy, SPEC)
    pd.testing.assert_frame_equal(first.table, second.table)
    assert first.choice == second.choice and first.choice["estimator"] in ESTIMATORS
    assert list(first.table.columns) == TABLE_COLUMNS
    modelled = first.table[first.table["model"] == "period"]
    assert set(modelled["category"]) == {"celebrity_hype", "trivial"}  # no other category has 10 positives
    assert len(modelled) == 2 * 2 * 2 * len(ESTIMATORS)  # periods × categories × seeds × estimators
    assert set(modelled["seed"]) == {0, 1}
    for rec in modelled.itertuples(index=False):
        rows = split_period(labeled, *dict((p[0], p) for p in SPEC.periods)[rec.period]).evaluate
        assert rec.labeled == pytest.approx(rows[rec.category].mean()) and rec.rows == len(rows)
        assert rec.abs_error == pytest.approx(abs(rec.estimate - rec.labeled))
    assert (first.table.loc[first.table["model"] == "none", "estimate"].isna()).all()
    chance = modelled["calibrated_chance"]
    assert ((chance > 0) & (chance <= 1)).all() and (modelled["calibrated_sd"] > 0).all()
    assert first.table.loc[first.table["model"] == "none", "calibrated_chance"].isna().all()
    assert set(first.resolution) == {"celebrity_hype", "trivial"}
    for key, res in first.resolution.items():
        per = modelled[modelled["category"] == key].groupby("period")["calibrated_chance"].mean()
        assert res["per_period"] == pytest.approx(per.round(4).to_dict())
        assert res["every_period"] == pytest.approx(per.prod(), abs=1e-4)
        assert set(res["spread"]) == set(per.index) and all(v > 0 for v in res["spread"].values())
    path = write_backtest(first, tmp_path / "bt.json", {"machine": "test"})
    body = load_backtest(path)
    assert body["choice"] == first.choice and len(body["table"]) == len(first.table) and body["machine"] == "test"
    assert body["resolution"] == first.resolution
    first.seconds = second.seconds = {}  # wall-clock times are the one thing allowed to differ
    again = write_backtest(second, tmp_path / "b.json").read_bytes()
    assert again == write_backtest(first, tmp_path / "a.json").read_bytes()  # the same file, byte for byte


def _table(errors: dict[str, list[float]]) -> pd.DataFrame:
    cells = [("2023H1", "celebrity_hype"), ("2023H1", "trivial"), ("2023H2", "celebrity_hype"), ("2023H2", "trivial")]
    return pd.DataFrame(
        [
            {
                "seed": seed,
                "period": p,
                "category": c,
                "model": "period",
                "estimator": name,
                "abs_error": err + seed / 100,
            }
            for seed in (0, 1)
            for name, errs in errors.items()
            for (p, c), err in zip(cells, errs, strict=True)
        ]
    )


def test_the_choice_is_the_smallest_worst_error_then_the_smallest_mean():
    base = {n: [0.10, 0.10, 0.10, 0.10] for n in ESTIMATORS}
    errors = {**base, "hdy": [0.01, 0.02, 0.05, 0.01], "emq": [0.05, 0.05, 0.05, 0.05]}
    choice = choose_estimator(_table(errors), ("celebrity_hype", "trivial"))
    assert choice["estimator"] == "hdy" and choice["worst_abs_error"]["hdy"] == pytest.approx(0.055)  # mean of seeds
    assert choice["worst_abs_error_by_seed"]["hdy"] == pytest.approx([0.05, 0.06])
    errors["pacc"] = [0.0, 0.0, 0.0, math.nan]  # missing a cell: cannot be chosen
    assert choose_estimator(_table(errors), ("celebrity_hype", "trivial"))["worst_abs_error"]["pacc"] is None
    errors["cc"] = [0.05, 0.01, 0.01, 0.01]  # same worst as hdy, smaller mean
    assert choose_estimator(_table(errors), ("celebrity_hype", "trivial"))["estimator"] == "cc"


def test_each_category_gets_its_own_choice_and_choosing_is_checked_on_left_out_periods():
    base = {n: [0.10, 0.10, 0.10, 0.10] for n in ESTIMATORS}
    # cells: (2023H1 hype, 2023H1 trivial, 2023H2 hype, 2023H2 trivial)
    errors = {**base, "pcc": [0.01, 0.09, 0.01, 0.09], "emq": [0.09, 0.01, 0.09, 0.02], "hdy": [0.05, 0.05, 0.05, 0.05]}
    choice = choose_estimator(_table(errors), ("celebrity_hype", "trivial"))
    assert choice["estimator"] == "hdy"  # best worst error over both categories together
    assert choice["by_category"] == {"celebrity_hype": "pcc", "trivial": "emq"}
    held = {(r["category"], r["period"]): r for r in choice["held_out"]}
    assert set(held) == {(c, p) for c in ("celebrity_hype", "trivial") for p in ("2023H1", "2023H2")}
    # trivial's 2023H1 is left out: emq is chosen on 2023H2 alone; its error there is 2023H1's, seeds 0 and 1
    assert held[("trivial", "2023H1")]["estimator"] == "emq"
    assert held[("trivial", "2023H1")]["abs_error"] == pytest.approx(0.015)
    assert held[("trivial", "2023H1")]["max_abs_error"] == pytest.approx(0.02)
    # forward: chosen on the earlier periods only, so the first period has no record
    forward = {(r["category"], r["period"]): r for r in choice["forward"]}
    assert set(forward) == {("celebrity_hype", "2023H2"), ("trivial", "2023H2")}
    assert forward[("trivial", "2023H2")]["estimator"] == "emq"  # chosen on 2023H1 alone
    assert forward[("trivial", "2023H2")]["abs_error"] == pytest.approx(0.025)  # 2023H2's error, seeds 0 and 1
    assert forward[("celebrity_hype", "2023H2")]["estimator"] == "pcc"


def _hot_history(folder, rows):
    path = folder / "weibo_hot_history" / "weibo_hot_history_2024.csv"
    path.parent.mkdir(parents=True)
    path.write_text("day,title,category\n" + "".join(f"{d},{t},{c}\n" for d, t, c in rows), "utf-8")


def _full_fit(taxonomy, tmp_path, labeled) -> FullFit:
    from qinglang.training.config import load_config

    rng = np.random.default_rng(1)
    texts = ["".join(rng.choice(NEWS + TRIVIAL, 4)) + f"评论{i}" for i in range(300)]
    others = pd.DataFrame({"text": texts, "kind": "comment"})
    for key in taxonomy.keys:
        others[key] = np.nan
    others["online_violence"] = (rng.random(300) < 0.3).astype(float)  # a category only the others label
    hot = [("2023-12-20", "猫咪搞笑段子合集", "搞笑"), ("2023-12-21", "明星机场私服", "明星-内地")]
    hot += [("2024-01-05", "晚霞萌宠表情包", "萌宠"), ("2023-12-22", labeled["text"].iat[0], "搞笑")]
    # an enriched title of 2024H1: in no period's fit or evaluation rows, but labeled
    enriched = labeled[(labeled["sample"] == "enriched") & (labeled["first_seen"] >= "2024-01-01")]["text"].iat[0]
    hot += [("2023-12-23", enriched, "搞笑")]
    _hot_history(tmp_path, hot)
    return FullFit(load_config(None), others, tmp_path, labeled["text"])


def test_a_full_fit_period_model_reads_the_other_corpora_and_only_earlier_weak_rows(taxonomy, tmp_path):
    labeled = _synthetic_titles(taxonomy)
    full = _full_fit(taxonomy, tmp_path, labeled)
    period = split_period(labeled, *SPEC.periods[1])  # 2024H1
    weak = period_weak_rows(full, taxonomy, period, ["celebrity_hype", "trivial"])
    # the 2024-01-05 row is in the period and the labeled titles are labeled: only two rows remain
    assert dict(zip(weak.texts, weak.Y.tolist(), strict=True)) == {"明星机场私服": [1, 0], "猫咪搞笑段子合集": [0, 1]}
    assert weak.kind == "title"
    model = fit_period_model(period, taxonomy, SPEC, seed=0, full=full)
    # online_violence has no title positives; the other corpora's labels make it a period category
    assert list(model.categories_) == ["celebrity_hype", "trivial", "online_violence"]
    assert list(fit_period_model(period, taxonomy, SPEC, seed=0).categories_) == ["celebrity_hype", "trivial"]
    assert _has_term(model, "评论")  # the other corpora's texts shape the features
    assert not _has_term(fit_period_model(period, taxonomy, SPEC, seed=0), "评论")


def _has_term(model, term: str) -> bool:
    return any(term in part.vocabulary_ for _, part in model.vectorizer_.named_steps["tfidf"].transformer_list)


def test_the_full_recipe_needs_its_rows_and_is_reproducible(taxonomy, tmp_path):
    labeled = _synthetic_titles(taxonomy)
    full = _full_fit(taxonomy, tmp_path, labeled)
    spec = BacktestSpec(periods=SPEC.periods[1:], seeds=(0,), n_boot=10, fit="full")
    with pytest.raises(ValueError, match="needs the FullFit"):
        run_backtest(labeled, taxonomy, spec)
    with pytest.raises(ValueError, match="unknown fit recipe"):
        run_backtest(labeled, taxonomy, BacktestSpec(fit="everything"), full=full)
    first, second = run_backtest(labeled, taxonomy, spec, full=full), run_backtest(labeled, taxonomy, spec, full=full)
    pd.testing.assert_frame_equal(first.table, second.table)
    assert first.to_json()["spec"]["fit"] == "full"


def test_labeled_titles_are_read_with_their_first_seen_day(taxonomy, tmp_path):
    folder = tmp_path / "weibo_trending_labeled"
    folder.mkdir()
    header = "id,text,first_seen,sample,labels\n"
    (folder / "train.csv").write_text(header + "a, 某明星官宣 ,2023-01-02,uniform,celebrity_hype\n", "utf-8")
    (folder / "dev.csv").write_text(header + "b,猫咪搞笑,2024-08-01,enriched,trivial;celebrity_hype\n", "utf-8")
    rows = load_labeled_titles(tmp_path, taxonomy)
    assert rows["text"].tolist() == ["某明星官宣", "猫咪搞笑"] and rows["split"].tolist() == ["train", "dev"]
    assert rows["celebrity_hype"].tolist() == [1, 1] and rows["trivial"].tolist() == [0, 1]
    assert rows["first_seen"].iat[1] == pd.Timestamp("2024-08-01")
    (folder / "dev.csv").write_text(header + "b,猫咪搞笑,2024-08-01,uniform,celebrity\n", "utf-8")
    with pytest.raises(DataError, match=r"labels \['celebrity'\] are not taxonomy categories"):
        load_labeled_titles(tmp_path, taxonomy)


def test_the_full_recipe_refuses_a_config_it_would_not_apply(taxonomy, tmp_path):
    from pathlib import Path

    import qinglang.training
    from qinglang.training.config import load_config
    from qinglang.trending.backtest import full_fit

    configs = Path(qinglang.training.__file__).parent / "configs"
    target = load_config(configs / "chineseharm_target.yaml")  # data.source_weights
    with pytest.raises(ValueError, match="does not apply data.source_weights"):
        full_fit(tmp_path, taxonomy, _synthetic_titles(taxonomy), target)


def test_a_bad_backtest_file_is_a_clear_error(tmp_path):
    (tmp_path / "x.json").write_text('{"version": 1, "table": [], "choice": {"estimator": "guess"}}', "utf-8")
    with pytest.raises(DataError, match="not a share backtest file"):
        load_backtest(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(
        '{"version": 1, "table": [], "choice": {"estimator": "pcc", "by_category": {"trivial": "guess"}}}', "utf-8"
    )
    with pytest.raises(DataError, match="not a share backtest file"):
        load_backtest(tmp_path / "y.json")
    for choice in (
        '{"estimator": "pcc", "by_category": ["trivial"]}',
        '{"estimator": "pcc", "held_out": [{"category": "trivial"}]}',
        '{"estimator": "pcc", "forward": [{"category": "trivial", "period": "2024H1", "estimator": "guess", "abs_error": 0}]}',
    ):
        (tmp_path / "z.json").write_text(f'{{"version": 1, "table": [], "choice": {choice}}}', "utf-8")
        with pytest.raises(DataError, match="not a share backtest file"):
            load_backtest(tmp_path / "z.json")
    with pytest.raises(DataError, match="cannot read the backtest file"):
        load_backtest(tmp_path / "missing.json")


def test_calibrated_resolution_is_the_exact_poisson_binomial_chance():
    from scipy.stats import binom

    # equal probabilities: the labeled count is binomial
    p = np.full(180, 0.15)
    sd, chance = calibrated_resolution(p, 0.03)
    counts = np.arange(181)
    assert chance == pytest.approx(binom.pmf(counts[np.abs(counts / 180 - 0.15) <= 0.03 + 1e-12], 180, 0.15).sum())
    assert sd == pytest.approx(math.sqrt(0.15 * 0.85 / 180))
    # two fair coins: share 0, 1/2 or 1 with 1/4, 1/2, 1/4; only 1/2 is within 0.2 of the mean
    assert calibrated_resolution(np.array([0.5, 0.5]), 0.2) == pytest.approx((math.sqrt(0.5) / 2, 0.5))
    # sharp probabilities leave no noise; NaN (no score) is left out; no rows, no figure
    assert calibrated_resolution(np.array([0.0, 1.0, 1.0, np.nan]), 0.0) == pytest.approx((0.0, 1.0))
    assert all(math.isnan(v) for v in calibrated_resolution(np.array([]), 0.03))
    # mixed probabilities against a simulation of the same model
    rng = np.random.default_rng(0)
    q = rng.uniform(0, 0.6, 200)
    draws = (rng.random((20000, 200)) < q).mean(axis=1)
    _, exact = calibrated_resolution(q, 0.03)
    assert exact == pytest.approx(np.mean(np.abs(draws - q.mean()) <= 0.03), abs=0.01)
    # more titles, finer check
    assert calibrated_resolution(np.full(500, 0.15), 0.03)[1] > chance


def test_resolution_multiplies_the_periods_and_skips_old_tables():
    table = pd.DataFrame(
        {
            "model": ["period"] * 4 + ["shipped"],
            "category": ["trivial"] * 5,
            "period": ["2023H1", "2023H1", "2023H2", "2023H2", "2023H2"],
            "calibrated_chance": [0.8, 0.6, 0.5, 0.5, 0.01],
        }
    )
    res = resolution(table, ("trivial", "celebrity_hype"))
    assert res == {"trivial": {"per_period": {"2023H1": 0.7, "2023H2": 0.5}, "every_period": 0.35}}
    assert resolution(table.drop(columns="calibrated_chance"), ("trivial",)) == {}


def test_calibration_spread_tells_right_from_blunt_and_overconfident_probabilities():
    rng = np.random.default_rng(1)
    truth = rng.choice([0.02, 0.9], 5000, p=[0.8, 0.2])
    y = (rng.random(5000) < truth).astype(float)
    assert calibration_spread(y, truth) == pytest.approx(1.0, abs=0.1)  # each probability right
    blunt = 0.5 * truth + 0.5 * truth.mean()  # same mean, less sharp
    assert calibration_spread(y, blunt) < 0.8
    sharp = np.clip(np.where(truth > 0.5, 0.999, 0.001), 0, 1)  # same ranking, far too sure
    assert calibration_spread(y, sharp) > 5
    assert math.isnan(calibration_spread(np.array([1.0, 0.0]), np.array([1.0, 0.0])))  # no variance claimed
    assert calibration_spread(np.array([1.0, np.nan]), np.array([0.5, 0.5])) == pytest.approx(1.0)
