"""Share estimation on synthetic lists whose true share is known, and every estimator
against quapy's own `aggregate`."""

import warnings

import numpy as np
import pytest

from qinglang.trending.prevalence import (
    ESTIMATORS,
    Bootstrap,
    RowGroups,
    canonical_estimator,
    estimate_shares,
    estimator_plan,
    fit_quantifiers,
    fit_quapy,
    model_fits,
    quapy_share,
    unusable_reason,
)


def _calibrated_list(n: int, prevalence: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities that are calibrated by construction (labels drawn from them)."""
    a = 4 * prevalence / (1 - prevalence)
    p = rng.beta(a, 4, size=n)
    return p, (rng.random(n) < p).astype(int)


def _one_group(n: int) -> RowGroups:
    return RowGroups(np.zeros(n, dtype=int), 1)


def _no_validation(thresholds) -> object:
    return fit_quantifiers([None] * len(thresholds), np.asarray(thresholds, dtype=float))


def test_pcc_recovers_the_true_share_where_counting_flags_does_not():
    rng = np.random.default_rng(1)
    p, y = _calibrated_list(20_000, 0.1, rng)
    fits = _no_validation([0.1])
    pcc = estimate_shares("pcc", fits, p[:, None], _one_group(len(p)), Bootstrap(200, 0))
    true_share = y.mean()
    assert abs(pcc.estimate.share[0, 0] - true_share) < 0.01
    assert pcc.estimate.low[0, 0] <= true_share <= pcc.estimate.high[0, 0]
    cc = estimate_shares("cc", fits, p[:, None], _one_group(len(p)), Bootstrap(0, 0))
    assert cc.estimate.share[0, 0] == cc.flagged[0, 0] / len(p)
    assert abs(cc.estimate.share[0, 0] - true_share) > 0.02  # the bias the estimators exist to remove
    assert np.isnan(cc.estimate.low[0, 0])  # cc has no interval


def test_interval_covers_the_true_share_about_as_often_as_it_says():
    rng = np.random.default_rng(2)
    groups, size = 200, 300
    p, y = _calibrated_list(groups * size, 0.25, rng)
    group = np.repeat(np.arange(groups), size)
    est = estimate_shares("pcc", _no_validation([0.5]), p[:, None], RowGroups(group, groups), Bootstrap(400, 3))
    truth = y.reshape(groups, size).mean(axis=1)
    covered = ((est.estimate.low[:, 0] <= truth) & (truth <= est.estimate.high[:, 0])).mean()
    assert 0.88 <= covered <= 0.99


def _crisp_validation(tpr: float, fpr: float, n_pos: int, n_neg: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Validation rows whose flags at 0.5 have (about) these rates."""
    y = np.r_[np.ones(n_pos, dtype=int), np.zeros(n_neg, dtype=int)]
    flag = np.where(y == 1, rng.random(len(y)) < tpr, rng.random(len(y)) < fpr)
    return y, np.where(flag, 0.9, 0.1)


def test_acc_undoes_known_error_rates():
    rng = np.random.default_rng(4)
    tpr, fpr, prevalence, n = 0.7, 0.1, 0.05, 50_000
    y = rng.random(n) < prevalence
    flag = np.where(y, rng.random(n) < tpr, rng.random(n) < fpr)
    scores = np.where(flag, 0.9, 0.1)[:, None]
    fits = fit_quantifiers([_crisp_validation(tpr, fpr, 2000, 8000, rng)], np.array([0.5]))
    est = estimate_shares("acc", fits, scores, _one_group(n), Bootstrap(300, 0)).estimate
    assert abs(est.share[0, 0] - y.mean()) < 0.01
    assert est.low[0, 0] < y.mean() < est.high[0, 0]
    assert abs(flag.mean() - y.mean()) > 0.03
    assert canonical_estimator("adjusted_count") == "acc"


def test_acc_refuses_an_operating_point_that_cannot_separate():
    rng = np.random.default_rng(0)
    fits = fit_quantifiers([_crisp_validation(0.5, 0.45, 200, 200, rng)], np.array([0.5]))
    est = estimate_shares("acc", fits, np.array([[0.9], [0.1]]), _one_group(2), Bootstrap(10, 0)).estimate
    assert np.isnan(est.share[0, 0]) and np.isnan(est.low[0, 0])
    assert estimator_plan("acc", fits) == ["pcc"]  # the audit estimates such a category with pcc, and says why
    assert "TPR - FPR at the operating point is -0.04" in unusable_reason("acc", fits, 0)
    assert unusable_reason("emq", fits, 0) == ""


def test_a_few_unestimable_replicates_do_not_void_the_adjusted_interval():
    rng = np.random.default_rng(0)
    scores = np.array([[0.9]] * 40 + [[0.1]] * 60)
    shaky = fit_quantifiers([_crisp_validation(0.30, 0.15, 20, 2000, rng)], np.array([0.5]))
    solid = fit_quantifiers([_crisp_validation(0.80, 0.10, 400, 2000, rng)], np.array([0.5]))
    assert np.isnan(estimate_shares("acc", shaky, scores, _one_group(100), Bootstrap(400, 0)).estimate.low[0, 0])
    est = estimate_shares("acc", solid, scores, _one_group(100), Bootstrap(400, 0)).estimate
    assert est.low[0, 0] < est.share[0, 0] < est.high[0, 0]


def test_groups_empty_groups_and_untrained_categories():
    p = np.array([[0.2, np.nan], [0.4, np.nan], [0.9, np.nan]])
    fits = _no_validation([0.5, np.inf])
    shares = estimate_shares("pcc", fits, p, RowGroups(np.array([0, 0, 2]), 3), Bootstrap(50, 0))
    est = shares.estimate
    assert est.share[0, 0] == pytest.approx(0.3) and est.share[2, 0] == pytest.approx(0.9)
    assert np.isnan(est.share[1]).all()  # no entries
    assert np.isnan(est.share[:, 1]).all() and np.isnan(est.low[:, 1]).all()  # untrained category
    assert shares.flagged[:, 0].tolist() == [0, 0, 1] and shares.n.tolist() == [2, 0, 1]
    for name in ESTIMATORS:  # every estimator: NaN for empty groups and untrained categories
        other = estimate_shares(name, fits, p, RowGroups(np.array([0, 0, 2]), 3), Bootstrap(20, 0)).estimate
        assert np.isnan(other.share[1]).all() and np.isnan(other.share[:, 1]).all()


def test_same_seed_same_interval():
    rng = np.random.default_rng(5)
    p = rng.random((500, 2))
    group = rng.integers(0, 5, 500)
    fits = _no_validation([0.5, 0.5])
    a = estimate_shares("pcc", fits, p, RowGroups(group, 5), Bootstrap(100, 9)).estimate
    b = estimate_shares("pcc", fits, p, RowGroups(group, 5), Bootstrap(100, 9)).estimate
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)


def test_rows_of_one_unit_share_a_label_so_repeats_widen_the_interval():
    rng = np.random.default_rng(6)
    groups, titles, repeats = 150, 60, 5
    p_title = rng.beta(1, 3, size=(groups, titles))
    truth = (rng.random((groups, titles)) < p_title).mean(axis=1)  # each title one label, seen `repeats` times
    proba = np.repeat(p_title.reshape(-1), repeats)[:, None]
    group = np.repeat(np.arange(groups), titles * repeats)
    unit = np.repeat(np.arange(groups * titles), repeats)
    fits = _no_validation([0.5])
    as_units = estimate_shares("pcc", fits, proba, RowGroups(group, groups, unit=unit), Bootstrap(300, 1)).estimate
    as_rows = estimate_shares("pcc", fits, proba, RowGroups(group, groups), Bootstrap(300, 1)).estimate
    covered = ((as_units.low[:, 0] <= truth) & (truth <= as_units.high[:, 0])).mean()
    assert 0.88 <= covered <= 0.99
    width_ratio = np.mean((as_units.high - as_units.low) / (as_rows.high - as_rows.low))
    assert 1.8 < width_ratio < 2.7  # about sqrt(repeats)


def _random_case(seed: int):
    """Validation data for three categories and a list of 30 groups of varied sizes and
    prevalence, rows shuffled, probabilities including exact 0 and 1."""
    rng = np.random.default_rng(seed)
    validation = []
    for j in range(3):
        y = (rng.random(600) < 0.15 + 0.1 * j).astype(int)
        p = np.clip(rng.beta(2, 5, len(y)) + 0.4 * y - 0.05, 0, 1)
        validation.append((y, p.astype(np.float32)))
    sizes = rng.integers(1, 250, 30)
    group = np.repeat(np.arange(30), sizes)
    prevalence = rng.random(30)[group]
    columns = [np.clip(rng.beta(2, 5, len(group)) + 0.4 * (rng.random(len(group)) < prevalence) - 0.05, 0, 1)]
    columns += [rng.random(len(group)), rng.beta(0.5, 0.5, len(group))]
    order = rng.permutation(len(group))
    return validation, np.array([0.45, 0.5, 0.3]), np.column_stack(columns)[order], group[order]


@pytest.mark.parametrize("name", ESTIMATORS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_estimator_equals_quapys_own_aggregate(name, seed):
    validation, thresholds, proba, group = _random_case(seed)
    fits = fit_quantifiers(validation, thresholds)
    est = estimate_shares(name, fits, proba, RowGroups(group, 30), Bootstrap(20, 0)).estimate
    compared = 0
    for j in range(3):
        quantifier = fit_quapy(name, *validation[j], threshold=thresholds[j])
        separation = {"acc": fits.tpr[j] - fits.fpr[j], "pacc": fits.soft_tpr[j] - fits.soft_fpr[j]}.get(name, 1.0)
        if separation < 0.1:  # here quapy returns an unstable number, we NaN
            assert np.isnan(est.share[:, j]).all()
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = [quapy_share(quantifier, proba[group == g, j]) for g in range(30)]
        np.testing.assert_allclose(est.share[:, j], expected, rtol=0, atol=1e-9)
        compared += 1
    assert compared >= 2


def test_bad_estimator_names_say_what_exists():
    assert canonical_estimator("mean_probability") == "pcc" and canonical_estimator("hdy") == "hdy"
    with pytest.raises(
        ValueError, match=r"unknown share estimator 'guess'; choose one of cc, pcc, acc, pacc, emq, hdy"
    ):
        canonical_estimator("guess")
    with pytest.raises(ValueError, match="unknown share estimator"):
        estimate_shares("PCC", _no_validation([0.5]), np.zeros((1, 1)), _one_group(1), Bootstrap(0, 0))


def test_categories_that_cannot_fit_a_quantifier_fall_back_to_pcc():
    rng = np.random.default_rng(3)
    good = (np.r_[np.ones(50), np.zeros(200)].astype(int), rng.random(250))
    few = (np.r_[np.ones(3), np.zeros(500)].astype(int), rng.random(503))  # 3 positives: too few
    fits = fit_quantifiers([good, few, None], np.array([0.5, 0.5, 0.5]))
    assert fits.fitted.tolist() == [True, False, False]
    assert "3 positive" in fits.reason[1] and "no labeled title rows" in fits.reason[2]
    assert estimator_plan("hdy", fits) == ["hdy", "pcc", "pcc"]
    assert estimator_plan("cc", fits) == ["cc"] * 3
    with pytest.raises(ValueError, match="use --estimator pcc or cc"):
        estimator_plan("emq", fits.subset([1, 2]), strict=True)
    proba = rng.random((40, 3))
    mixed = estimate_shares(estimator_plan("emq", fits), fits, proba, _one_group(40), Bootstrap(0, 0)).estimate
    assert mixed.share[0, 1] == pytest.approx(proba[:, 1].mean())  # pcc where emq cannot be fitted


def test_a_model_without_stored_validation_offers_only_cc_and_pcc(demo_bundle):
    import copy

    clf = copy.copy(demo_bundle.classifier)
    assert model_fits(clf).fitted.any()  # the demo model stores its title validation data
    del clf.validation_
    fits = model_fits(clf)
    assert not fits.fitted.any() and "trained before validation data was stored" in fits.reason[0]
    with pytest.raises(ValueError, match="only cc and pcc"):
        estimator_plan("acc", fits, strict=True)
    assert set(estimator_plan("adjusted_count", fits)) == {"pcc"}
