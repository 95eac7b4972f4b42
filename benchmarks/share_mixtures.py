"""Would a mixture of pcc and pacc meet trivial's share target? Read from a share backtest.

pcc (the mean probability) stays near the training share while a period's labeled share
moves; pacc follows the moves but overshoots in some periods. A weighted mean
w * pacc + (1 - w) * pcc sits between the two. This script reads the period models'
estimates of a `benchmarks/bench_share_backtest.py` JSON (nothing is refitted) and prints,
per category, the abs error against the labeled share for w = 0, 1/8, ..., 1 (mean over
seeds, per period) and the forward choice of w: at each period, the w with the smallest
worst error over the earlier periods, scored on that period (as a choice made today meets
the next half-year).

    .venv/bin/python benchmarks/share_mixtures.py --backtest runs/share-backtest.json \\
        [--categories trivial celebrity_hype] [--json PATH]

Seconds; the backtest itself takes about 40 minutes."""

from __future__ import annotations

from pathlib import Path

from _common import parser, print_markdown_table, write_json

WEIGHTS = tuple(i / 8 for i in range(9))


def mixture_errors(table, category: str):
    """(weights × periods) DataFrame: mean over seeds of |w·pacc + (1−w)·pcc − labeled|."""
    import pandas as pd

    rows = table[(table["model"] == "period") & (table["category"] == category)]
    if rows.empty:
        raise SystemExit(f"no period-model rows for {category!r} in the backtest")
    est = rows.pivot_table(index=["period", "seed"], columns="estimator", values="estimate")
    labeled = rows.groupby(["period", "seed"])["labeled"].first()
    errors = {w: (w * est["pacc"] + (1 - w) * est["pcc"] - labeled).abs().groupby("period").mean() for w in WEIGHTS}
    return pd.DataFrame(errors).T


def forward(errors) -> list[dict]:
    """Per period after the first: w chosen on the earlier periods (smallest worst error,
    ties to the smaller w) and its error there."""
    periods, out = list(errors.columns), []
    for i in range(1, len(periods)):
        chosen = errors[periods[:i]].max(axis=1).idxmin()
        out.append({"period": periods[i], "w": chosen, "abs_error": float(errors.loc[chosen, periods[i]])})
    return out


def main() -> None:
    p = parser(__doc__, model=False)
    p.add_argument("--backtest", type=Path, required=True, help="JSON of benchmarks/bench_share_backtest.py")
    p.add_argument("--categories", nargs="+", default=["trivial", "celebrity_hype"])
    args = p.parse_args()
    import pandas as pd

    from qinglang.trending.backtest import load_backtest

    table = pd.DataFrame(load_backtest(args.backtest)["table"])
    figures = {}
    for category in args.categories:
        errors = mixture_errors(table, category)
        periods = list(errors.columns)
        rows = [
            [f"{w:.3f}", *(f"{100 * errors.loc[w, q]:.1f}" for q in periods), f"{100 * errors.loc[w].max():.1f}"]
            for w in WEIGHTS
        ]
        print_markdown_table(f"{category}: abs error in points, w·pacc + (1−w)·pcc", ["w", *periods, "worst"], rows)
        chosen = forward(errors)
        print_markdown_table(
            f"{category}: w chosen forward",
            ["period", "w", "abs error (points)"],
            [[c["period"], f"{c['w']:.3f}", f"{100 * c['abs_error']:.1f}"] for c in chosen],
        )
        figures[category] = {
            "errors": {f"{w:.3f}": errors.loc[w].round(6).to_dict() for w in WEIGHTS},
            "forward": chosen,
        }
    write_json(args.json, {"backtest": str(args.backtest), **figures})


if __name__ == "__main__":
    main()
