"""The evaluation report: every section and file, the keyword baseline beside the model,
operating points on held-out rows, and errors with their driving features."""

import numpy as np
import pytest

from qinglang.data.loaders.tabular import read_labeled_file
from qinglang.training.reports.report import EvaluationInputs, write_evaluation
from qinglang.training.train import demo_path


@pytest.fixture(scope="module")
def held_out(demo_bundle):
    frame, _ = read_labeled_file(demo_path(), demo_bundle.taxonomy)
    return frame[frame["split"] == "test"].reset_index(drop=True)


def test_report_has_every_section_file_and_the_baseline(demo_bundle, held_out, tmp_path):
    clf, keys = demo_bundle.classifier, demo_bundle.categories
    scores = clf.predict_proba(held_out["text"])
    baseline = np.full(scores.shape, np.nan)
    j = keys.index("online_violence")
    baseline[:, j] = held_out["text"].str.contains("垃圾|脑残").astype(float)
    inputs = EvaluationInputs(
        table=held_out,
        scores=scores,
        classifier=clf,
        taxonomy=demo_bundle.taxonomy,
        splits=["test"],
        header={"model": "demo"},
        baseline=baseline,
        baseline_note="keyword baseline here",
    )
    ev = write_evaluation(tmp_path, inputs)
    report = (tmp_path / "report.md").read_text("utf-8")
    for section in (
        "## Read this first",
        "## test: per category",
        "## Operating points",
        "## Per source",
        "## Plots",
        "## Top errors",
        "keyword baseline here",
    ):
        assert section in report
    assert "`wealth_flaunting`" in report.split("## test")[0]  # the untrained category is called out first
    for name in (
        "pr_curves_test.png",
        "threshold_curves_test.png",
        "reliability_test.png",
        "metrics.csv",
        "operating_points.csv",
        "top_errors.csv",
        "keyword_baseline_metrics.csv",
    ):
        assert (tmp_path / name).is_file() and tmp_path / name in ev.files
    kw = ev.baseline_results.set_index("category")
    assert kw.loc["online_violence", "status"] == "ok" and kw.loc["celebrity_hype", "status"] == "not trained"
    assert set(ev.operating_points["profile"]) == {"balanced", "review", "auto"}
    errors = ev.errors
    assert "false positive" in set(errors["error"])
    assert (
        errors[errors["error"] == "false negative"]["score"] < errors[errors["error"] == "false negative"]["threshold"]
    ).all()
    fp = errors[errors["error"] == "false positive"].iloc[0]
    assert fp["score"] >= fp["threshold"] and fp["drivers"]  # flagged, with the features that raised its score
    held_p = ev.operating_points.set_index(["category", "profile"]).loc[("celebrity_hype", "balanced"), "test P"]
    assert held_p == pytest.approx(
        ev.results.set_index(["source", "category"]).loc[("demo", "celebrity_hype"), "precision"]
    )


def test_a_long_figure_title_is_wrapped_inside_a_one_panel_figure(tmp_path):
    """Issue 19: a one-panel figure cut its title off at both edges."""
    from qinglang.training.reports.plots import panel_grid, save_figure

    fig, axes = panel_grid(1)
    axes[0].plot([0, 1], [0, 1])
    fig.suptitle("Precision-recall on test, per source (◆ = keyword filter), a title longer than one panel")
    save_figure(fig, tmp_path / "one.png")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    box = fig._suptitle.get_window_extent(FigureCanvasAgg(fig).get_renderer())
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    assert "\n" in fig._suptitle.get_text()
