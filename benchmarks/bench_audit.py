"""Wall-clock time of `qinglang audit` over the whole trending archive, and its check
against people's labels.

Runs the real command in a fresh process (model loading, reading 1,499 day files, scoring
every distinct title once on every core, estimating per day/month with bootstrap
intervals, writing tables, figures and the report), so the figure is what a user waits.

Targets: at most 90 s on this 2-core machine with the default model; on the labeled
trending dev split's uniform rows, the estimated share of celebrity_hype and trivial
within 3 points of the labeled share.

    .venv/bin/python benchmarks/bench_audit.py --model runs/latest/bundle [--out runs/audit] [--json out.json] \
        [--estimator NAME] [--unit slots|titles] [--backtest runs/share-backtest.json]

Without --estimator the audit's defaults apply (the --backtest file's choices, else
trending.prevalence.DEFAULT_ESTIMATOR and DEFAULT_BY_CATEGORY); each category's figures are
for the estimator the audit used for it (label_check.csv's `audit_*` columns).
"""

import json
import subprocess
import time
from pathlib import Path

import pandas as pd
from _common import VENV_BIN, machine, parser, print_table, verdict, write_json

TARGET_S, TARGET_POINTS = 90.0, 3.0
CHECKED = ("celebrity_hype", "trivial")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--out", type=Path, default=Path("runs/audit"), help="Audit output folder (default runs/audit).")
    p.add_argument(
        "--estimator", default=None, help="cc, pcc, acc, pacc, emq, hdy (or an alias); default: the audit's."
    )
    p.add_argument("--unit", default="slots", help="slots or titles.")
    p.add_argument("--backtest", type=Path, default=None, help="A share backtest JSON (bench_share_backtest.py).")
    args = p.parse_args()

    archive = args.data_dir / "weibo_trending" / "raw"
    cmd = [
        str(VENV_BIN / "qinglang"),
        "audit",
        "--archive",
        str(archive),
        "--model",
        args.model,
        "--out",
        str(args.out),
        "--data-dir",
        str(args.data_dir),
        "--unit",
        args.unit,
        "--no-progress",
    ]
    cmd += ["--estimator", args.estimator] if args.estimator else []
    cmd += ["--backtest", str(args.backtest)] if args.backtest else []
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"qinglang audit failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.loads((args.out / "summary.json").read_text("utf-8"))
    estimator = summary["estimator"]
    check = pd.read_csv(args.out / "label_check.csv").set_index("category")
    months = pd.read_csv(args.out / "months.csv")
    errors = {k: 100 * float(check.at[k, "audit_abs_error"]) for k in CHECKED}
    rows = [
        ("days read / day files skipped", f"{summary['days_read']} / {summary['day_files_skipped']}"),
        ("entries / distinct titles", f"{summary['entries']:,} / {summary['distinct_titles']:,}"),
        ("months in the report", f"{months['month'].min()} … {months['month'].max()} ({months['month'].nunique()})"),
        (
            "unit / estimators",
            f"{summary['unit']} / {estimator}"
            + "".join(f"; {k} {e}" for k, e in summary["estimator_by_category"].items() if e != estimator)
            + f" (from {summary['estimator_source']})",
        ),
        ("stages (s)", ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items())),
        ("wall clock (s)", round(seconds, 1)),
        (f"<= {TARGET_S:g} s", verdict(seconds <= TARGET_S)),
    ]
    for key in CHECKED:
        rows.append(
            (
                f"{key}: labeled / estimated / error",
                f"{100 * check.at[key, 'labeled_share']:.1f}% / {100 * check.at[key, 'audit']:.1f}% "
                f"({check.at[key, 'audit_estimator']}) / {errors[key]:.1f} points ({verdict(errors[key] <= TARGET_POINTS)})",
            )
        )
    print_table(f"qinglang audit of the whole archive ({estimator}, unit {summary['unit']})", rows)
    write_json(
        args.json,
        {
            "machine": machine(),
            "model": args.model,
            "seconds": seconds,
            "summary": summary,
            "label_check_points": errors,
            "target_time_met": seconds <= TARGET_S,
            "target_share_met": {k: v <= TARGET_POINTS for k, v in errors.items()},
        },
    )


if __name__ == "__main__":
    main()
