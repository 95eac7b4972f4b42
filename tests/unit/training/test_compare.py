import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from qinglang.training.compare import ComparisonSettings, compare_scores, format_comparison, weighted_average_precision
from qinglang.training.metrics import evaluate_slice

CATS = ["a", "b", "c"]
METRIC_NAMES = ("precision", "recall", "f1", "average_precision")


def _labels(n=800, seed=0, unknown=0.2):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, len(CATS))) < 0.15).astype(float)
    Y[rng.random(Y.shape) < unknown] = np.nan
    return pd.DataFrame(
        {k: pd.array([None if np.isnan(v) else int(v) for v in Y[:, j]], dtype="Int8") for j, k in enumerate(CATS)}
    )


def _model(labels, signal, seed, threshold=0.5):
    """Scores that separate positives by `signal` (0 = pure noise)."""
    rng = np.random.default_rng(seed)
    y = labels[CATS].to_numpy(dtype="float64", na_value=0.0)
    proba = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=y.shape))))
    return proba, (proba >= threshold).astype(np.int8)


def _row(table, category):
    return table.set_index("category").loc[category]


def test_fast_average_precision_matches_sklearn_with_ties_and_resampling():
    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(2, 80))
        y = rng.integers(0, 2, n)
        if not y.any():
            continue
        score = np.round(rng.random(n), int(rng.integers(0, 3)))  # coarse rounding makes ties
        assert weighted_average_precision(np.ones((1, n)), y, score)[0] == pytest.approx(
            average_precision_score(y, score), abs=1e-12
        )
        idx = rng.integers(0, n, n)  # a bootstrap resample, as counts
        if y[idx].any():
            counts = np.bincount(idx, minlength=n)[None]
            assert weighted_average_precision(counts, y, score)[0] == pytest.approx(
                average_precision_score(y[idx], score[idx]), abs=1e-12
            )


def test_point_metrics_equal_evaluate_slice():
    labels = _labels()
    proba, flags = _model(labels, 1.5, seed=1)
    table = compare_scores(labels, CATS, (proba, flags), _model(labels, 1.0, seed=2), ComparisonSettings(n_boot=0))
    expected = evaluate_slice(labels, proba, flags, CATS, np.ones(3, bool)).set_index("category")
    for key in CATS:
        row = _row(table, key)
        assert (row.n, row.support) == (expected.loc[key, "n"], expected.loc[key, "support"])
        for m in METRIC_NAMES:
            assert row[f"baseline_{m}"] == pytest.approx(expected.loc[key, m], abs=1e-12)
    assert np.isnan(table["delta_f1_low"]).all()  # no replicates, no intervals


def test_interval_contains_point_delta():
    labels = _labels()
    table = compare_scores(
        labels, CATS, _model(labels, 1.0, seed=1), _model(labels, 1.3, seed=2), ComparisonSettings(n_boot=300)
    )
    for m in METRIC_NAMES:
        assert (table[f"delta_{m}_low"] <= table[f"delta_{m}"]).all()
        assert (table[f"delta_{m}"] <= table[f"delta_{m}_high"]).all()


def test_identical_models_have_zero_delta_and_zero_width_interval():
    labels = _labels()
    model = _model(labels, 1.0, seed=1)
    table = compare_scores(labels, CATS, model, model, ComparisonSettings(n_boot=200))
    for m in METRIC_NAMES:
        assert (table[[f"delta_{m}", f"delta_{m}_low", f"delta_{m}_high"]].to_numpy() == 0).all()
    assert "] *" not in format_comparison(table)


def test_clearly_better_candidate_has_interval_above_zero():
    labels = _labels()
    table = compare_scores(
        labels, CATS, _model(labels, 0.3, seed=1), _model(labels, 3.0, seed=2), ComparisonSettings(n_boot=300)
    )
    assert list(table["category"]) == [*CATS, "_macro"]
    for m in ("f1", "average_precision"):
        assert (table[f"delta_{m}_low"] > 0).all()
    text = format_comparison(table)
    assert text.count("] *") >= 2 * len(table)  # f1 and AP rows at least
    assert "95% interval" in text and "_macro" in text


def test_untrained_categories_get_nan_and_stay_out_of_macro():
    labels = _labels()
    base_p, base_f = _model(labels, 1.0, seed=1)
    cand_p, cand_f = _model(labels, 1.0, seed=2)
    base_p[:, 0] = np.nan  # a: new in the candidate
    cand_p[:, 1] = np.nan  # b: dropped by the candidate
    base_f[:, 0] = cand_f[:, 1] = 0
    table = compare_scores(labels, CATS, (base_p, base_f), (cand_p, cand_f), ComparisonSettings(n_boot=100))
    a, b, c, macro = (_row(table, k) for k in (*CATS, "_macro"))
    assert a.status == "not trained in baseline" and b.status == "not trained in candidate" and c.status == "ok"
    assert np.isnan(a.baseline_average_precision) and not np.isnan(a.candidate_average_precision)
    assert np.isnan(b.candidate_f1) and not np.isnan(b.baseline_f1)
    assert np.isnan([a.delta_f1, a.delta_f1_low, b.delta_f1, b.delta_f1_high]).all()
    assert macro.support == c.support and macro.baseline_f1 == pytest.approx(c.baseline_f1)
    assert "not trained in candidate" in format_comparison(table)

    cand_p[:, 0] = np.nan
    both = compare_scores(labels, CATS, (base_p, base_f), (cand_p, cand_f), ComparisonSettings(n_boot=10))
    assert _row(both, "a").status == "not trained in either"


def test_category_without_positives_is_reported_but_not_averaged():
    labels = _labels()
    labels["c"] = pd.array([0] * len(labels), dtype="Int8")
    table = compare_scores(
        labels, CATS, _model(labels, 1.0, seed=1), _model(labels, 1.0, seed=2), ComparisonSettings(n_boot=50)
    )
    c = _row(table, "c")
    assert c.status == "no positives" and c.support == 0 and np.isnan(c.baseline_average_precision)
    assert _row(table, "_macro").support == _row(table, "a").support + _row(table, "b").support


def test_rows_with_unknown_labels_do_not_count():
    labels = _labels(n=400)
    base, cand = _model(labels, 1.0, seed=1), _model(labels, 1.5, seed=2)
    reference = compare_scores(labels, CATS, base, cand, ComparisonSettings(n_boot=200, seed=7))

    # rows unknown for every category are dropped before resampling: nothing changes at all
    noise = np.random.default_rng(0).random((50, 3))
    extra = pd.concat([labels, pd.DataFrame({k: pd.array([None] * 50, dtype="Int8") for k in CATS})], ignore_index=True)
    grow = lambda m: (np.vstack([m[0], noise]), np.vstack([m[1], np.ones((50, 3), np.int8)]))  # noqa: E731
    pd.testing.assert_frame_equal(
        compare_scores(extra, CATS, grow(base), grow(cand), ComparisonSettings(n_boot=200, seed=7)), reference
    )

    # rows unknown for `a` only leave a's point metrics alone, whatever their scores
    partial = extra.copy()
    partial.loc[400:, ["b", "c"]] = 0
    table = compare_scores(partial, CATS, grow(base), grow(cand), ComparisonSettings(n_boot=0))
    for m in METRIC_NAMES:
        assert _row(table, "a")[f"baseline_{m}"] == pytest.approx(_row(reference, "a")[f"baseline_{m}"])
    assert _row(table, "a").n == _row(reference, "a").n


def test_deterministic_given_seed():
    labels = _labels()
    base, cand = _model(labels, 1.0, seed=1), _model(labels, 1.2, seed=2)
    first = compare_scores(labels, CATS, base, cand, ComparisonSettings(n_boot=100, seed=5))
    pd.testing.assert_frame_equal(
        first, compare_scores(labels, CATS, base, cand, ComparisonSettings(n_boot=100, seed=5))
    )
    other = compare_scores(labels, CATS, base, cand, ComparisonSettings(n_boot=100, seed=6))
    assert not np.allclose(first["delta_average_precision_low"], other["delta_average_precision_low"])
    assert first.attrs == {"n_boot": 100, "seed": 5, "confidence": 0.95}


def test_metric_subset_and_bad_input():
    labels = _labels(n=100)
    model = _model(labels, 1.0, seed=1)
    table = compare_scores(labels, CATS, model, model, ComparisonSettings(metrics=("recall",), n_boot=5))
    assert [c for c in table.columns if c.startswith("baseline_")] == ["baseline_recall"]
    with pytest.raises(ValueError, match="unknown metrics"):
        compare_scores(labels, CATS, model, model, ComparisonSettings(metrics=("auc",)))
    with pytest.raises(ValueError, match="must both be"):
        compare_scores(labels, CATS, model, (model[0][:, :2], model[1]))
