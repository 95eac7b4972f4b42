import numpy as np
import pandas as pd
import pytest

from qinglang.training.metrics import evaluate_table, metrics_for_mlflow


def test_metrics_per_source_pooled_and_unknown_rows_ignored():
    table = pd.DataFrame(
        {
            "text": list("abcdef"),
            "split": ["test"] * 6,
            "source": ["s1", "s1", "s1", "s2", "s2", "s2"],
            "x": pd.array([1, 0, 1, 1, 0, None], dtype="Int8"),
            "y": pd.array([None, None, None, 0, 0, 0], dtype="Int8"),
        }
    )
    scores = np.array([[0.9, 0.1], [0.2, 0.1], [0.4, 0.1], [0.8, 0.2], [0.7, 0.3], [0.99, 0.9]])
    flags = (scores >= 0.5).astype(int)
    res = evaluate_table(table, scores, flags, ["x", "y"], np.array([True, True]))
    s1 = res[(res.source == "s1") & (res.category == "x")].iloc[0]
    assert (s1.n, s1.support, s1.tp, s1.fp, s1.fn) == (3, 2, 1, 0, 1)
    assert s1.precision == 1.0 and s1.recall == 0.5 and s1.accuracy == pytest.approx(2 / 3)
    pooled = res[(res.source == "all") & (res.category == "x")].iloc[0]
    assert pooled.n == 5  # the unknown row of s2 is not counted
    y = res[(res.source == "s2") & (res.category == "y")].iloc[0]
    assert y.status == "no positives"  # reported, never given an invented F1
    assert "test.s1.x.f1" in metrics_for_mlflow(res)


def test_untrained_category_is_reported_as_such():
    table = pd.DataFrame({"text": ["a", "b"], "split": "test", "source": "s", "x": pd.array([1, 0], dtype="Int8")})
    res = evaluate_table(table, np.full((2, 1), np.nan), np.zeros((2, 1), int), ["x"], np.array([False]))
    assert res.iloc[0].status == "not trained" and res.iloc[0].support == 1


def test_micro_average_counts_false_positives_where_a_slice_has_no_positives():
    table = pd.DataFrame(
        {
            "text": list("abcd"),
            "split": "test",
            "source": "s",
            "x": pd.array([1, 0, 1, 0], dtype="Int8"),
            "y": pd.array([0, 0, 0, 0], dtype="Int8"),
        }
    )
    scores = np.array([[0.9, 0.9], [0.1, 0.9], [0.9, 0.1], [0.1, 0.1]])
    res = evaluate_table(table, scores, (scores >= 0.5).astype(int), ["x", "y"], np.array([True, True]))
    micro = res[res.category == "_micro"].iloc[0]
    assert micro.precision == pytest.approx(2 / 4)  # x: 2 TP; y: 2 FP on an all-negative slice
    macro = res[res.category == "_macro"].iloc[0]
    assert macro.f1 == pytest.approx(1.0)  # macro averages only categories with positives


def test_calibration_error_is_small_for_calibrated_scores_and_large_for_overconfident():
    from qinglang.training.metrics import expected_calibration_error

    rng = np.random.default_rng(0)
    p = rng.uniform(size=20_000)
    y = (rng.uniform(size=p.size) < p).astype(float)
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, np.where(p > 0.5, 0.99, 0.01)) > 0.2


def test_category_confusion_counts_only_rows_known_negative_for_the_flagged_category():
    from qinglang.training.metrics import category_confusion

    table = pd.DataFrame(
        {
            "a": pd.array([1] * 6 + [0] * 6, dtype="Int8"),
            "b": pd.array([0] * 4 + [None] * 2 + [0] * 6, dtype="Int8"),
        }
    )
    flags = np.zeros((12, 2), dtype=int)
    flags[:2, 1] = 1  # two of the four a-rows known not to be b are flagged b
    flags[4:6, 1] = 1  # b unknown there: not a confusion
    rate = category_confusion(table, flags, ["a", "b"], np.array([True, True]), min_rows=2)
    assert rate.loc["a", "b"] == 0.5
    assert "b" not in rate.index  # no row is labeled b


def test_macro_20pos_averages_only_categories_with_enough_positives():
    rng = np.random.default_rng(1)
    n = 200
    x = (np.arange(n) < 40).astype(int)  # 40 positives
    y = (np.arange(n) < 4).astype(int)  # 4 positives: too few to count
    table = pd.DataFrame(
        {
            "text": [str(i) for i in range(n)],
            "split": "dev",
            "source": "s",
            "x": pd.array(x, dtype="Int8"),
            "y": pd.array(y, dtype="Int8"),
        }
    )
    scores = np.column_stack([x * 0.6 + rng.uniform(size=n) * 0.5, rng.uniform(size=n)])
    res = evaluate_table(table, scores, (scores >= 0.5).astype(int), ["x", "y"], np.array([True, True]))
    rows = res[(res.source == "s")].set_index("category")
    assert rows.loc["_macro_20pos", "average_precision"] == pytest.approx(rows.loc["x", "average_precision"])
    assert rows.loc["_macro", "average_precision"] == pytest.approx(rows.loc[["x", "y"], "average_precision"].mean())
    assert rows.loc["_macro_20pos", "support"] == 40


def test_a_category_a_source_barely_labels_counts_only_in_the_pooled_rows():
    """Issue 19: a COLD row that got an extreme_emotion label from an identical text in
    another corpus made an `extreme_emotion n=1` row that dragged COLD's `_macro`."""
    n = 40
    table = pd.DataFrame(
        {
            "split": "test",
            "source": ["cold"] * n + ["roles"] * n,
            "x": pd.array([i % 2 for i in range(2 * n)], dtype="Int8"),
            "y": pd.array([1] + [None] * (n - 1) + [i % 2 for i in range(n)], dtype="Int8"),
        }
    )
    scores = np.tile([[0.2, 0.3], [0.8, 0.7]], (n, 1))
    res = evaluate_table(table, scores, (scores >= 0.5).astype(int), ["x", "y"], np.array([True, True]))
    cold = res[res["source"] == "cold"].set_index("category")
    assert "y" not in cold.index and cold.at["_macro", "recall"] == 1.0
    pooled = res[res["source"] == "all"].set_index("category")
    assert pooled.at["y", "n"] == n + 1
