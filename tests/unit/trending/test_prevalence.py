"""Share estimation on synthetic lists whose true share is known."""

import numpy as np
import pytest

from qinglang.trending.prevalence import AdjustedCount, MeanProbability, RowGroups, ValidationRates, count_shares


def _calibrated_list(n: int, prevalence: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that are calibrated by construction (labels drawn from them)."""
    a = 4 * prevalence / (1 - prevalence)
    p = rng.beta(a, 4, size=n)
    return p, (rng.random(n) < p).astype(int)


def test_mean_probability_recovers_the_true_share_where_counting_flags_does_not():
    rng = np.random.default_rng(1)
    p, y = _calibrated_list(20_000, 0.1, rng)
    counts = count_shares(p[:, None], np.array([0.1]), RowGroups(np.zeros(len(p), dtype=int), 1), n_boot=200, seed=0)
    est = MeanProbability().estimate(counts)
    true_share = y.mean()
    assert abs(est.share[0, 0] - true_share) < 0.01
    assert est.low[0, 0] <= true_share <= est.high[0, 0]
    classify_and_count = counts.flagged[0, 0] / counts.n[0]
    assert abs(classify_and_count - true_share) > 0.02  # the bias the estimator exists to remove


def test_interval_covers_the_true_share_about_as_often_as_it_says():
    rng = np.random.default_rng(2)
    groups, size = 200, 300
    p, y = _calibrated_list(groups * size, 0.25, rng)
    group = np.repeat(np.arange(groups), size)
    est = MeanProbability().estimate(
        count_shares(p[:, None], np.array([0.5]), RowGroups(group, groups), n_boot=400, seed=3)
    )
    truth = y.reshape(groups, size).mean(axis=1)
    covered = ((est.low[:, 0] <= truth) & (truth <= est.high[:, 0])).mean()
    assert 0.88 <= covered <= 0.99


def test_adjusted_count_undoes_known_error_rates():
    rng = np.random.default_rng(4)
    tpr, fpr, prevalence, n = 0.7, 0.1, 0.05, 50_000
    y = rng.random(n) < prevalence
    flag = np.where(y, rng.random(n) < tpr, rng.random(n) < fpr)
    scores = flag.astype(float)[:, None]  # flags at threshold 0.5
    counts = count_shares(scores, np.array([0.5]), RowGroups(np.zeros(n, dtype=int), 1), n_boot=0, seed=0)
    rates = ValidationRates(np.array([tpr]), np.array([fpr]), np.array([400]), np.array([1600]))
    est = AdjustedCount(rates, n_boot=300, seed=0).estimate(counts)
    assert abs(est.share[0, 0] - y.mean()) < 0.01
    assert est.low[0, 0] < y.mean() < est.high[0, 0]
    assert abs(flag.mean() - y.mean()) > 0.03


def test_adjusted_count_refuses_an_operating_point_that_cannot_separate():
    counts = count_shares(np.array([[0.9], [0.1]]), np.array([0.5]), RowGroups(np.array([0, 0]), 1), n_boot=0, seed=0)
    est = AdjustedCount(
        ValidationRates(np.array([0.5]), np.array([0.45]), np.array([100]), np.array([100])), n_boot=10
    ).estimate(counts)
    assert np.isnan(est.share[0, 0]) and np.isnan(est.low[0, 0])


def test_groups_combine_by_summing_and_empty_groups_are_nan():
    p = np.array([[0.2, np.nan], [0.4, np.nan], [0.9, np.nan]])
    counts = count_shares(p, np.array([0.5, np.inf]), RowGroups(np.array([0, 0, 2]), 3), n_boot=50, seed=0)
    est = MeanProbability().estimate(counts)
    assert est.share[0, 0] == pytest.approx(0.3) and est.share[2, 0] == pytest.approx(0.9)
    assert np.isnan(est.share[1]).all()  # no entries
    assert np.isnan(est.share[:, 1]).all() and np.isnan(est.low[:, 1]).all()  # untrained category
    merged = MeanProbability().estimate(counts.combine(np.array([0, 0, 0]), 1))
    assert merged.share[0, 0] == pytest.approx(0.5)
    assert counts.flagged[:, 0].tolist() == [0, 0, 1]


def test_same_seed_same_interval():
    rng = np.random.default_rng(5)
    p = rng.random((500, 2))
    group = rng.integers(0, 5, 500)
    a = MeanProbability().estimate(count_shares(p, np.array([0.5, 0.5]), RowGroups(group, 5), 100, seed=9))
    b = MeanProbability().estimate(count_shares(p, np.array([0.5, 0.5]), RowGroups(group, 5), 100, seed=9))
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)


def test_rows_of_one_unit_share_a_label_so_repeats_widen_the_interval():
    rng = np.random.default_rng(6)
    groups, titles, repeats = 150, 60, 5
    p_title = rng.beta(1, 3, size=(groups, titles))
    truth = (rng.random((groups, titles)) < p_title).mean(axis=1)  # each title one label, seen `repeats` times
    proba = np.repeat(p_title.reshape(-1), repeats)[:, None]
    group = np.repeat(np.arange(groups), titles * repeats)
    unit = np.repeat(np.arange(groups * titles), repeats)
    by_title = RowGroups(group, groups, unit=unit)
    as_units = MeanProbability().estimate(count_shares(proba, np.array([0.5]), by_title, 300, seed=1))
    as_rows = MeanProbability().estimate(count_shares(proba, np.array([0.5]), RowGroups(group, groups), 300, seed=1))
    covered = ((as_units.low[:, 0] <= truth) & (truth <= as_units.high[:, 0])).mean()
    assert 0.88 <= covered <= 0.99
    width_ratio = np.mean((as_units.high - as_units.low) / (as_rows.high - as_rows.low))
    assert 1.8 < width_ratio < 2.7  # about sqrt(repeats)
    merged = count_shares(proba, np.array([0.5]), by_title, 300, seed=1).combine(np.zeros(groups, dtype=int), 1)
    assert merged.draws.shape == (1, 1, 300) and merged.n[0] == len(proba)


def test_a_few_unestimable_replicates_do_not_void_the_adjusted_interval():
    one_group = RowGroups(np.zeros(100, dtype=int), 1)
    counts = count_shares(np.array([[1.0]] * 40 + [[0.0]] * 60), np.array([0.5]), one_group, n_boot=0, seed=0)
    shaky_rates = ValidationRates(np.array([0.30]), np.array([0.15]), np.array([20]), np.array([2000]))
    solid_rates = ValidationRates(np.array([0.80]), np.array([0.10]), np.array([400]), np.array([2000]))
    shaky = AdjustedCount(shaky_rates, n_boot=400, seed=0)
    solid = AdjustedCount(solid_rates, n_boot=400, seed=0)
    assert np.isnan(shaky.estimate(counts).low[0, 0])  # many replicates below the separation floor
    est = solid.estimate(counts)
    assert est.low[0, 0] < est.share[0, 0] < est.high[0, 0]
