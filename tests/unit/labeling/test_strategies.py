"""The ranking functions `label select` and the simulated-loop benchmark share."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from qinglang.labeling.strategies import (
    likely_positive_order,
    random_order,
    seed_hits,
    seed_term_order,
    uncertainty_order,
)

# --- uncertainty -----------------------------------------------------------------


def test_uncertainty_puts_the_row_nearest_the_threshold_first():
    order = uncertainty_order(np.array([0.05, 0.62, 0.97, 0.45, 0.3]), 0.5)
    assert order[0] == 3  # 0.45 is nearest 0.5
    assert order[1] == 1
    assert order[-1] == 2  # 0.97 is farthest on the logit scale


def test_uncertainty_measures_distance_on_the_logit_scale():
    # 0.2 and 0.8 are both 0.3 from 0.5 on the probability scale; in logits 0.02 is far closer
    # to a 0.01 threshold than 0.2 is
    order = uncertainty_order(np.array([0.2, 0.02]), 0.01)
    assert order.tolist() == [1, 0]


def test_uncertainty_takes_the_nearest_category_of_each_row():
    proba = np.array([[0.9, 0.1], [0.99, 0.31], [0.6, 0.9]])
    thresholds = np.array([0.5, 0.3])
    # row 1 is 0.31 on a 0.3 threshold; row 2 is 0.6 on 0.5; row 0 is 0.1 on 0.3 / 0.9 on 0.5
    assert uncertainty_order(proba, thresholds).tolist() == [1, 2, 0]


def test_uncertainty_ignores_nan_scores_and_thresholds():
    proba = np.array([[np.nan, 0.9], [0.5, np.nan], [np.nan, np.nan], [0.7, 0.2]])
    order = uncertainty_order(proba, np.array([0.5, 0.5]))
    assert order[0] == 1  # its one usable score sits on the threshold
    assert order[-1] == 2  # no usable category: last
    # a NaN threshold switches its category off for every row
    order = uncertainty_order(np.array([[0.5, 0.99], [0.9, 0.51]]), np.array([np.nan, 0.5]))
    assert order.tolist() == [1, 0]


def test_uncertainty_rows_without_a_usable_score_keep_input_order():
    proba = np.array([np.nan, 0.4, np.nan, np.nan])
    assert uncertainty_order(proba, 0.5).tolist() == [1, 0, 2, 3]


def test_uncertainty_handles_scores_of_exactly_zero_and_one():
    order = uncertainty_order(np.array([1.0, 0.0, 0.5]), 0.5)
    assert order[0] == 2
    assert sorted(order.tolist()) == [0, 1, 2]


def test_uncertainty_ties_keep_input_order():
    assert uncertainty_order(np.array([0.4, 0.3, 0.4]), 0.5).tolist() == [0, 2, 1]


# --- likely-positive -------------------------------------------------------------


def test_likely_positive_is_highest_score_first():
    assert likely_positive_order(np.array([0.2, 0.95, 0.5, 0.95, 0.01])).tolist() == [1, 3, 2, 0, 4]


def test_likely_positive_puts_nan_last():
    scores = np.array([0.2, np.nan, 0.9, 0.5, 0.9])
    assert likely_positive_order(scores).tolist() == [2, 4, 3, 0, 1]


# --- random ----------------------------------------------------------------------


def test_random_order_is_a_permutation_fixed_by_the_seed():
    a = random_order(100, np.random.default_rng(7))
    b = random_order(100, np.random.default_rng(7))
    c = random_order(100, np.random.default_rng(8))
    assert sorted(a.tolist()) == list(range(100))
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


# --- seed terms ------------------------------------------------------------------


def test_seed_hits_matches_substrings_and_ignores_blank_seeds():
    texts = ["某明星官宣恋情", "今天天气不错", "塔罗牌运势", "两人同框"]
    assert seed_hits(texts, ["官宣", " 同框 ", "", "  "]).tolist() == [True, False, False, True]
    assert not seed_hits(texts, ["", " "]).any()


def _features() -> sparse.csr_matrix:
    # rows 0-2 are seed hits; 3 and 4 resemble them (4 more than 3); 5 shares nothing with them
    dense = np.array(
        [
            [1.0, 1.0, 0.0, 0.0],
            [1.0, 0.5, 0.0, 0.0],
            [0.8, 1.0, 0.0, 0.0],
            [0.2, 0.0, 1.0, 0.0],
            [1.0, 0.9, 0.1, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    return sparse.csr_matrix(dense)


HITS = np.array([True, True, True, False, False, False])


def test_seed_term_order_interleaves_hits_with_their_nearest_non_hits():
    order, is_hit = seed_term_order(_features(), HITS, np.random.default_rng(0))
    assert is_hit.tolist() == [True, False, True, False, True]
    assert sorted(order[is_hit].tolist()) == [0, 1, 2]
    assert order[~is_hit].tolist() == [4, 3]  # nearest the hits' centroid first
    assert 5 not in order  # nothing in common with the hits: not a neighbour
    assert HITS[order].tolist() == is_hit.tolist()


def test_seed_term_order_appends_the_longer_side_when_one_runs_out():
    hits = np.array([True, False, False, False, False, False])
    order, is_hit = seed_term_order(_features(), hits, np.random.default_rng(0))
    assert order[0] == 0
    assert is_hit.tolist() == [True, False, False, False, False]  # the hit, then every neighbour
    assert order[1:].tolist() == [4, 2, 1, 3]  # by similarity to the one hit; row 5 shares nothing


def test_seed_term_order_is_empty_without_hits():
    order, is_hit = seed_term_order(_features(), np.zeros(6, dtype=bool), np.random.default_rng(0))
    assert order.size == 0 and is_hit.size == 0
    assert order.dtype.kind == "i"


def test_seed_term_order_is_fixed_by_the_seed():
    runs = [seed_term_order(_features(), HITS, np.random.default_rng(s))[0].tolist() for s in (3, 3)]
    assert runs[0] == runs[1]
    orders = {tuple(seed_term_order(_features(), HITS, np.random.default_rng(s))[0][[0, 2, 4]]) for s in range(20)}
    assert len(orders) > 1  # the hits themselves come in a seeded random order


def test_seed_term_order_survives_empty_feature_rows():
    features = _features().tolil()
    features[3, :] = 0
    order, is_hit = seed_term_order(features.tocsr(), HITS, np.random.default_rng(0))
    assert 3 not in order
    assert np.isfinite(order).all()


@pytest.mark.parametrize(
    "fn", [likely_positive_order, lambda s: uncertainty_order(s, 0.5)], ids=["likely", "uncertain"]
)
def test_orders_cover_every_row_once(fn):
    scores = np.random.default_rng(1).random(50)
    scores[[3, 17]] = np.nan
    assert sorted(fn(scores).tolist()) == list(range(50))
