"""The trending-list audit on real day files of the archive, with a malformed and an empty
day beside them, and the check against the labeled trending dev split."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qinglang.cli.app import app
from qinglang.data.errors import DataError
from qinglang.data.loaders.archive import band_rank
from qinglang.trending.audit import AuditRequest, check_against_labels, run_audit, with_audit_columns
from qinglang.trending.backtest import BacktestResult, BacktestSpec, choose_estimator, resolution, write_backtest
from qinglang.trending.prevalence import DEFAULT_BY_CATEGORY, DEFAULT_ESTIMATOR, ESTIMATORS
from qinglang.trending.report import write_report

pytestmark = pytest.mark.corpora

DAYS = ["2020-11-24", "2023-05-10", "2024-08-01", "2024-08-02"]  # the first has no ranks in its urls


@pytest.fixture()
def archive(tmp_path, data_dir):
    folder = tmp_path / "raw"
    folder.mkdir()
    for day in DAYS:
        shutil.copy(data_dir / "weibo_trending" / "raw" / f"{day}.json", folder / f"{day}.json")
    (folder / "2024-08-03.json").write_text('[{"url": "https://s.weibo.com/weibo?q=x", "title": "半截', "utf-8")
    (folder / "2024-08-04.json").write_text("[]", "utf-8")
    (folder / "2024-08-05.json").write_text('[{"url": "https://s.weibo.com/weibo?q=x"}, 3]', "utf-8")
    (folder / "2023-02-30.json").write_text('[{"url": "u", "title": "不存在的一天"}]', "utf-8")
    (folder / "notes.txt").write_text("not a day file", "utf-8")
    return folder


def day_records(folder, day):
    return [r for r in json.loads((folder / f"{day}.json").read_text("utf-8")) if r.get("title", "").strip()]


def test_audit_reads_good_days_reports_bad_ones_and_estimates_each_day(archive, demo_bundle):
    result = run_audit(demo_bundle, AuditRequest(archive, n_boot=100, jobs=1))
    s = result.summary
    assert s["days_read"] == 4 and s["day_files_skipped"] == 4
    assert any("2024-08-03.json" in p and "not valid JSON" in p for p in result.problems)
    assert any("2024-08-04.json" in p and "non-empty JSON list" in p for p in result.problems)
    assert any("2024-08-05.json" in p and "no entry has a title" in p for p in result.problems)
    assert any("2023-02-30.json" in p and "not a date" in p for p in result.problems)
    assert s["entries"] == sum(len(day_records(archive, d)) for d in DAYS)
    trained = {k for k, t in zip(demo_bundle.categories, demo_bundle.classifier.trained_, strict=True) if t}
    own = {k: e for k, e in DEFAULT_BY_CATEGORY.items() if k in trained}
    assert s["estimator"] == DEFAULT_ESTIMATOR and s["estimator_own_choice"] == own
    for key, name in s["estimator_by_category"].items():
        assert name == own.get(key, DEFAULT_ESTIMATOR) or (name == "pcc" and key in s["estimator_fallback"])

    clf = demo_bundle.classifier
    whole = result.days[result.days["scope"] == "all"]
    for day in DAYS:
        records = day_records(archive, day)
        proba = clf.predict_proba([r["title"].strip() for r in records])
        flags = proba >= clf.thresholds_
        rows = whole[whole["day"] == pd.Timestamp(day).date()].set_index("category")
        assert (rows["entries"] == len(records)).all()
        for j, key in enumerate(demo_bundle.categories):
            if clf.trained_[j]:
                assert rows.at[key, "flagged"] == flags[:, j].sum()
                if s["estimator_by_category"][key] == "pcc":  # the default, bar DEFAULT_BY_CATEGORY
                    assert rows.at[key, "share"] == pytest.approx(proba[:, j].mean())
                    assert rows.at[key, "share_low"] <= rows.at[key, "share"] <= rows.at[key, "share_high"]
                else:
                    assert 0 <= rows.at[key, "share"] <= 1
            else:
                assert np.isnan(rows.at[key, "share"])
        top10 = result.days[(result.days["scope"] == "top10") & (result.days["day"] == pd.Timestamp(day).date())]
        ranked = sum(1 for r in records if (band_rank(r.get("url")) or 99) <= 10)
        assert (top10["entries"] == ranked).all() and (len(top10) > 0) == (ranked > 0)
    assert (
        len(result.days[(result.days["scope"] == "top10") & (result.days["day"] == pd.Timestamp("2020-11-24").date())])
        == 0
    )


def test_report_and_tables_are_written(archive, demo_bundle, tmp_path):
    result = run_audit(demo_bundle, AuditRequest(archive, n_boot=50, jobs=1))
    report = write_report(result, tmp_path / "out", model_ref="demo")
    text = report.read_text("utf-8")
    for section in (
        "## Monthly share per category",
        "## Most frequent flagged titles per month",
        "## Days that stand out",
        "## Skipped day files",
        "2024-08-03.json",
    ):
        assert section in text
    for name in (
        "days.parquet",
        "days.csv",
        "months.csv",
        "groups_by_month.csv",
        "top_titles.csv",
        "standout_days.csv",
        "monthly_share.png",
        "groups_stacked.png",
        "summary.json",
    ):
        assert (tmp_path / "out" / name).stat().st_size > 0
    parquet = pd.read_parquet(tmp_path / "out" / "days.parquet")
    assert len(parquet) == len(result.days) == len(pd.read_csv(tmp_path / "out" / "days.csv"))
    assert set(result.months["month"]) == {"2020-11", "2023-05", "2024-08"}


def test_same_archive_and_seed_give_the_same_tables(archive, demo_bundle):
    a = run_audit(demo_bundle, AuditRequest(archive, n_boot=50, seed=3, jobs=1))
    b = run_audit(demo_bundle, AuditRequest(archive, n_boot=50, seed=3, jobs=2))
    pd.testing.assert_frame_equal(a.days, b.days)
    pd.testing.assert_frame_equal(a.top_titles, b.top_titles)


def test_dates_limit_the_audit(archive, demo_bundle):
    from datetime import date

    result = run_audit(demo_bundle, AuditRequest(archive, date(2024, 8, 1), date(2024, 8, 31), n_boot=0, jobs=1))
    assert (
        result.summary["days_read"] == 2 and result.summary["day_files_skipped"] == 4
    )  # the misnamed file has no date to filter by
    assert result.days["share_low"].isna().all()  # no replicates, no interval


def test_the_check_against_labels_uses_the_dev_splits_uniform_rows(demo_bundle, data_dir):
    table = check_against_labels(demo_bundle, data_dir, n_boot=50).set_index("category")
    dev = pd.read_csv(data_dir / "weibo_trending_labeled" / "dev.csv", keep_default_na=False)
    uniform = dev[dev["sample"] == "uniform"]
    assert (table["rows"] == len(uniform)).all()
    for key in ("celebrity_hype", "trivial"):
        labeled = uniform["labels"].str.split(";").apply(lambda keys, key=key: key in keys).mean()
        assert table.at[key, "labeled_share"] == pytest.approx(labeled)
        for name in ESTIMATORS:  # every quantifier, fitted on the model's title validation data
            assert np.isfinite(table.at[key, name])
            assert table.at[key, f"{name}_abs_error"] == pytest.approx(abs(table.at[key, name] - labeled))
        assert table.at[key, "pcc_low"] <= table.at[key, "pcc"] <= table.at[key, "pcc_high"]


def test_cli_audit_and_its_errors(archive, demo_bundle, tmp_path):
    model = tmp_path / "model"
    demo_bundle.save(model)
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "audit",
            "--archive",
            str(archive),
            "--model",
            str(model),
            "--out",
            str(tmp_path / "out"),
            "--n-boot",
            "20",
            "--jobs",
            "1",
            "--no-progress",
        ],
        env={"QINGLANG_DATA_DIR": ""},
    )
    assert r.exit_code == 0, r.output
    assert "audited 4 days" in r.output and "4 day file(s) skipped" in r.output
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "2024-01-01.json").write_text("{oops", "utf-8")
    r = runner.invoke(
        app,
        ["audit", "--archive", str(bad), "--model", str(model), "--out", str(tmp_path / "out2")],
        env={"QINGLANG_DATA_DIR": ""},
    )
    assert r.exit_code == 2 and "no entries to audit" in r.output
    r = runner.invoke(
        app,
        [
            "audit",
            "--archive",
            str(archive),
            "--model",
            str(model),
            "--out",
            str(tmp_path / "out3"),
            "--estimator",
            "guess",
        ],
        env={"QINGLANG_DATA_DIR": ""},
    )
    assert r.exit_code == 2 and "unknown share estimator" in r.output
    r = runner.invoke(
        app,
        ["audit", "--archive", str(archive), "--model", str(model), "--out", str(tmp_path / "out4"), "--unit", "days"],
        env={"QINGLANG_DATA_DIR": ""},
    )
    assert r.exit_code == 2 and "unknown unit 'days'; choose one of slots, titles" in r.output


def test_cli_dates(archive, demo_bundle, tmp_path):
    model = tmp_path / "model"
    demo_bundle.save(model)
    base = ["audit", "--archive", str(archive), "--model", str(model), "--n-boot", "0", "--jobs", "1"]
    r = CliRunner().invoke(
        app,
        [*base, "--out", str(tmp_path / "a"), "--from", "2024-08-01", "--to", "2024-08-31"],
        env={"QINGLANG_DATA_DIR": ""},
    )
    assert r.exit_code == 0 and "audited 2 days (2024-08-01 … 2024-08-02)" in r.output
    r = CliRunner().invoke(
        app,
        [*base, "--out", str(tmp_path / "b"), "--from", "2024-09-01", "--to", "2024-08-01"],
        env={"QINGLANG_DATA_DIR": ""},
    )
    assert r.exit_code == 2 and "after --to" in r.output


def test_titles_unit_counts_each_title_once_per_day_and_month(archive, demo_bundle):
    slots = run_audit(demo_bundle, AuditRequest(archive, estimator="pcc", n_boot=0, jobs=1))
    titles = run_audit(demo_bundle, AuditRequest(archive, estimator="pcc", n_boot=30, jobs=1, unit="titles"))
    assert slots.summary["unit"] == "slots" and titles.summary["unit"] == "titles"
    clf = demo_bundle.classifier
    for day in DAYS:
        distinct = list(dict.fromkeys(r["title"].strip() for r in day_records(archive, day)))
        proba = clf.predict_proba(distinct)
        rows = titles.days[(titles.days["scope"] == "all") & (titles.days["day"] == pd.Timestamp(day).date())]
        rows = rows.set_index("category")
        assert (rows["titles"] == len(distinct)).all() and (rows["entries"] == len(day_records(archive, day))).all()
        for j, key in enumerate(demo_bundle.categories):
            if clf.trained_[j]:
                assert rows.at[key, "share"] == pytest.approx(proba[:, j].mean())
                assert rows.at[key, "flagged"] == (proba[:, j] >= clf.thresholds_[j]).sum()
    month = titles.months[(titles.months["scope"] == "all") & (titles.months["month"] == "2024-08")]
    both = {t.strip() for d in ("2024-08-01", "2024-08-02") for t in (r["title"] for r in day_records(archive, d))}
    assert (month["titles"] == len(both)).all()  # a title on both days counts once in the month
    slot_month = slots.months[(slots.months["scope"] == "all") & (slots.months["month"] == "2024-08")]
    assert (slot_month["entries"] == month["entries"].to_numpy()).all()


@pytest.mark.parametrize("name", ["hdy", "emq", "pacc", "adjusted_count"])
def test_every_estimator_runs_on_the_archive(archive, demo_bundle, name):
    result = run_audit(demo_bundle, AuditRequest(archive, estimator=name, n_boot=20, jobs=1))
    s = result.summary
    assert s["estimator"] == ("acc" if name == "adjusted_count" else name) and s["estimator_source"] == "--estimator"
    trained = [k for j, k in enumerate(demo_bundle.categories) if demo_bundle.classifier.trained_[j]]
    whole = result.days[(result.days["scope"] == "all") & result.days["category"].isin(trained)]
    assert whole["share"].between(0, 1).all()
    assert set(s["estimator_by_category"]) == set(trained)


def test_backtest_file_sets_the_default_estimator_and_is_reported(archive, demo_bundle, tmp_path):
    table = pd.DataFrame(
        [
            {"period": p, "seed": 0, "category": c, "group": "low-value", "model": "period", "estimator": e, "used": e,
             "estimate": 0.2 + err, "labeled": 0.2, "labeled_low": 0.15, "labeled_high": 0.25,
             "labeled_positives": 40, "rows": 200, "abs_error": err, "within_target": err <= 0.03}
            for p in ("2023H1", "2023H2") for c in ("celebrity_hype", "trivial")
            for e, err in zip(ESTIMATORS, (0.05, 0.04, 0.06, 0.07, 0.08, 0.02), strict=True)
        ]
    )  # fmt: skip
    table["calibrated_chance"] = np.where(table["category"] == "trivial", 0.5, 0.9)
    table["calibration_spread"] = np.where(table["category"] == "trivial", 0.8, 1.0)
    path = write_backtest(
        BacktestResult(
            table,
            [],
            choose_estimator(table, ("celebrity_hype", "trivial")),
            BacktestSpec(),
            resolution=resolution(table, ("celebrity_hype", "trivial")),
        ),
        tmp_path / "bt.json",
    )
    result = run_audit(demo_bundle, AuditRequest(archive, n_boot=0, jobs=1, backtest=path))
    assert result.summary["estimator"] == "hdy" and "bt.json" in result.summary["estimator_source"]
    text = write_report(result, tmp_path / "out", model_ref="demo").read_text("utf-8")
    assert "## Shares validated across time (backtest)" in text and "The backtest chose **hdy**" in text
    # how finely the labels can check a share: 0.5 per period, two periods
    assert "in every period with chance celebrity_hype 81% (2023H1 90%, 2023H2 90%); trivial 25%" in text
    assert "below 1 when the noise is overstated: celebrity_hype 2023H1 1.00, 2023H2 1.00; trivial 2023H1 0.80" in text
    explicit = run_audit(demo_bundle, AuditRequest(archive, estimator="cc", n_boot=0, jobs=1, backtest=path))
    assert explicit.summary["estimator"] == "cc"  # --estimator wins over the file's choice
    (tmp_path / "bad.json").write_text("{}", "utf-8")
    with pytest.raises(DataError, match="not a share backtest file"):
        run_audit(demo_bundle, AuditRequest(archive, backtest=tmp_path / "bad.json"))


def test_a_backtest_choice_per_category_is_used_per_category(archive, demo_bundle, tmp_path):
    errors = {"celebrity_hype": (0.05, 0.01, 0.06, 0.07, 0.08, 0.03), "trivial": (0.05, 0.04, 0.06, 0.07, 0.08, 0.02)}
    table = pd.DataFrame(
        [
            {"period": p, "seed": 0, "category": c, "group": "low-value", "model": "period", "estimator": e, "used": e,
             "estimate": 0.2 + err, "labeled": 0.2, "labeled_low": 0.15, "labeled_high": 0.25,
             "labeled_positives": 40, "rows": 200, "abs_error": err, "within_target": err <= 0.03}
            for p in ("2023H1", "2023H2") for c, errs in errors.items()
            for e, err in zip(ESTIMATORS, errs, strict=True)
        ]
    )  # fmt: skip
    choice = choose_estimator(table, ("celebrity_hype", "trivial"))
    assert choice["estimator"] == "hdy" and choice["by_category"] == {"celebrity_hype": "pcc", "trivial": "hdy"}
    path = write_backtest(BacktestResult(table, [], choice, BacktestSpec()), tmp_path / "bt.json")
    used = run_audit(demo_bundle, AuditRequest(archive, n_boot=0, jobs=1, backtest=path)).summary
    by_category = used["estimator_by_category"]
    assert by_category["celebrity_hype"] == "pcc"
    assert by_category["trivial"] in ("hdy", "pcc")  # pcc only where the demo model cannot fit hdy
    others = {k: v for k, v in by_category.items() if k not in errors}
    assert set(others.values()) <= {"hdy", "pcc"}  # the overall choice (or its fallback) elsewhere
    explicit = run_audit(demo_bundle, AuditRequest(archive, estimator="cc", n_boot=0, jobs=1, backtest=path)).summary
    assert set(explicit["estimator_by_category"].values()) == {"cc"}  # --estimator wins for every category


def test_the_report_shows_the_backtest_rows_of_the_estimators_the_audit_used(archive, demo_bundle, tmp_path):
    """With --estimator equal to the file's overall choice, every category used it: the report
    must not present the file's per-category choice as used."""
    rows = [
        {"period": "2023H1", "seed": 0, "category": c, "group": "low-value", "model": "period", "estimator": e,
         "used": e, "estimate": 0.2 + err, "labeled": 0.2, "labeled_low": 0.15, "labeled_high": 0.25,
         "labeled_positives": 40, "rows": 200, "abs_error": err, "within_target": err <= 0.03}
        for c, errs in {"celebrity_hype": (0.05, 0.01, 0.06, 0.07, 0.08, 0.09), "trivial": (0.05, 0.04, 0.06, 0.011, 0.08, 0.09)}.items()
        for e, err in zip(ESTIMATORS, errs, strict=True)
    ]  # fmt: skip
    table = pd.DataFrame(rows)
    choice = choose_estimator(table, ("celebrity_hype", "trivial"))
    assert choice["estimator"] == "pcc" and choice["by_category"]["trivial"] == "pacc"
    path = write_backtest(BacktestResult(table, [], choice, BacktestSpec()), tmp_path / "bt.json")

    def backtest_rows(result):
        text = write_report(result, tmp_path / "out", model_ref="demo").read_text("utf-8")
        section = text.split("## Shares validated across time (backtest)")[1].split("## Monthly share")[0]
        return {
            line.split("|")[2].strip(): line.split("|")[4].strip()
            for line in section.splitlines()
            if "| 2023H1 |" in line
        }

    from_file = run_audit(demo_bundle, AuditRequest(archive, n_boot=0, jobs=1, backtest=path))
    trivial_used = from_file.summary["estimator_by_category"]["trivial"]
    assert backtest_rows(from_file) == {"celebrity_hype": "pcc", "trivial": trivial_used}
    explicit = run_audit(demo_bundle, AuditRequest(archive, estimator="pcc", n_boot=0, jobs=1, backtest=path))
    assert backtest_rows(explicit) == {"celebrity_hype": "pcc", "trivial": "pcc"}


def test_the_label_check_reads_the_estimator_the_audit_used_per_category(demo_bundle, data_dir):
    check = check_against_labels(demo_bundle, data_dir, n_boot=20)
    plan = {"celebrity_hype": "pcc", "trivial": "pacc"}
    table = with_audit_columns(check, plan).set_index("category")
    for key, name in plan.items():
        assert table.at[key, "audit_estimator"] == name
        for suffix in ("", "_low", "_high", "_abs_error"):
            np.testing.assert_equal(table.at[key, f"audit{suffix}"], table.at[key, f"{name}{suffix}"])  # NaN == NaN
        assert np.isfinite(table.at[key, "audit"])
    unplanned = table.drop(index=list(plan))
    assert unplanned["audit_estimator"].isna().all() and unplanned["audit"].isna().all()


def test_a_default_audit_checks_each_category_with_its_own_estimator(archive, demo_bundle, data_dir, tmp_path):
    result = run_audit(demo_bundle, AuditRequest(archive, n_boot=0, jobs=1, data_dir=data_dir))
    used = result.summary["estimator_by_category"]
    check = result.label_check.set_index("category")
    for key, name in used.items():
        assert check.at[key, "audit_estimator"] == name
    assert used["trivial"] in (DEFAULT_BY_CATEGORY.get("trivial", DEFAULT_ESTIMATOR), "pcc")  # pcc: the fallback
    text = write_report(result, tmp_path / "out", model_ref="demo").read_text("utf-8")
    err = 100 * check.at["trivial", "audit_abs_error"]
    assert f"trivial {err:.1f} points with {used['trivial']}" in text
    demo_bundle.save(tmp_path / "model")
    printed = CliRunner().invoke(
        app,
        ["audit", "--archive", str(archive), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "cli"),
         "--data-dir", str(data_dir), "--n-boot", "0", "--jobs", "1", "--no-progress"],
    )  # fmt: skip
    assert printed.exit_code == 0, printed.output
    line = next(x for x in printed.output.splitlines() if x.strip().startswith("trivial "))
    assert line.endswith(f"({used['trivial']})") and f"abs error {err:4.1f} points" in line
