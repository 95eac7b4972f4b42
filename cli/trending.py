"""`qinglang audit` and `rerank`: the health of a trending list, and a list re-ordered."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from qinglang.cli.common import MODEL_HELP, fail, setup_logging, show_progress
from qinglang.data.errors import DataError

EstimatorOption = typer.Option(
    None,
    "--estimator",
    help="Share estimator (quapy): cc, pcc, acc, pacc, emq or hdy; mean_probability = pcc and adjusted_count = acc "
    "for every category (default: the --backtest file's choices, else the backtested defaults of trending/prevalence.py).",
)
UnitOption = typer.Option(
    "slots",
    "--unit",
    help="What a share counts: slots (list entries: a title on the list in 3 snapshots counts 3 times) or titles (distinct titles).",
)
AuditDataDirOption = typer.Option(
    None,
    "--data-dir",
    envvar="QINGLANG_DATA_DIR",
    help="Corpora folder; its labeled trending set checks the estimates against people's labels.",
)
BacktestOption = typer.Option(
    None,
    "--backtest",
    help="A share backtest JSON (benchmarks/bench_share_backtest.py): the report prints it and its choices (overall and per category) become the default.",
)


def audit(
    archive: Path = typer.Option(
        ...,
        "--archive",
        help="Folder of day files YYYY-MM-DD.json, each a JSON list of {url, title} (e.g. weibo_trending/raw).",
    ),
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    out: Path = typer.Option(
        ..., "--out", help="Folder for report.md, its PNGs and the tables (days.parquet, days.csv, ...)."
    ),
    date_from: datetime | None = typer.Option(None, "--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD)."),
    date_to: datetime | None = typer.Option(None, "--to", formats=["%Y-%m-%d"], help="Last day (YYYY-MM-DD)."),
    estimator: str | None = EstimatorOption,
    unit: str = UnitOption,
    backtest: Path | None = BacktestOption,
    profile: str | None = typer.Option(
        None, "--profile", help="Operating point for the flag counts, cc and acc (default: the model's)."
    ),
    n_boot: int = typer.Option(200, "--n-boot", min=0, help="Bootstrap replicates for the intervals."),
    seed: int = typer.Option(0, "--seed"),
    jobs: int | None = typer.Option(None, "--jobs", min=1, help="Scoring processes (default: every available core)."),
    data_dir: Path | None = AuditDataDirOption,
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bars (default: when stderr is a terminal)."
    ),
) -> None:
    """Per-day share of each category on a trending archive (whole list, top 10, top 50),
    with bootstrap intervals, a report, and a check against labeled titles."""
    from qinglang.models.registry import ModelLoadError, load_bundle
    from qinglang.trending.audit import AuditRequest, run_audit
    from qinglang.trending.report import write_report

    setup_logging()
    request = AuditRequest(
        archive,
        date_from.date() if date_from else None,
        date_to.date() if date_to else None,
        estimator=estimator,
        profile=profile,
        n_boot=n_boot,
        seed=seed,
        jobs=jobs,
        progress=show_progress(progress),
        data_dir=data_dir,
        unit=unit,
        backtest=backtest,
    )
    try:
        result = run_audit(load_bundle(model), request)
        report = write_report(result, out, model_ref=model)
    except (DataError, ModelLoadError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc}")
    _print_audit(result)
    typer.echo(f"report: {report}")


def _print_audit(result) -> None:
    s = result.summary
    estimator = s["estimator"]
    typer.echo(
        f"audited {s['days_read']} days ({s['first_day']} … {s['last_day']}), {s['entries']} entries, "
        f"{s['distinct_titles']} distinct titles; {s['day_files_skipped']} day file(s) skipped"
    )
    own = "".join(f"; {k} {e}" for k, e in (s.get("estimator_own_choice") or {}).items())
    fallback = f"; pcc for {', '.join(s['estimator_fallback'])}" if s["estimator_fallback"] else ""
    typer.echo(
        f"shares of {s['unit']} ({s['unit_meaning'].split(':')[0]}), estimator {estimator} "
        f"(from {s['estimator_source']}){own}{fallback}"
    )
    if result.backtest is not None:
        choice = result.backtest["choice"]
        typer.echo(f"backtest {result.backtest['path']}: chosen {choice['estimator']} ({choice['rule']})")
    check = result.label_check
    if check is None:
        return
    typer.echo(
        f"estimated vs labeled share on {int(check['rows'].iat[0])} uniform dev titles (the audit's estimators):"
    )
    for rec in check.itertuples(index=False):
        rec = rec._asdict()
        if _missing(rec["audit"]):
            continue
        typer.echo(
            f"  {rec['category']:17} labeled {100 * rec['labeled_share']:5.1f}%  estimated {100 * rec['audit']:5.1f}%  "
            f"abs error {100 * rec['audit_abs_error']:4.1f} points ({rec['audit_estimator']})"
        )


def rerank(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    input: Path = typer.Option(
        ...,
        "--input",
        help='JSON list of {id, title, rank, heat?} (or {"entries": [...]}), or a CSV/TSV/Parquet/JSONL table with those columns.',
    ),
    policy: Path | None = typer.Option(
        None, "--policy", help="Re-rank policy YAML (default: the shipped trending/policies/trending.yaml)."
    ),
    output: Path | None = typer.Option(
        None, "--output", help="Write the decisions here as JSON (default: a table on stdout)."
    ),
) -> None:
    """Re-order a trending list under a policy: an action per entry (keep, demote, review,
    remove) with its reasons (rule, category, score). Deterministic."""
    from qinglang.models.registry import ModelLoadError, load_bundle
    from qinglang.trending.rerank import PolicyError, Reranker, decision_records, read_entries

    try:
        reranker = Reranker.from_file(policy, load_bundle(model))
        decisions = reranker.rerank(read_entries(input))
    except (DataError, ModelLoadError, PolicyError, ValueError) as exc:
        fail(str(exc))
    records = decision_records(decisions)
    if output is None:
        _print_decisions(records)
        return
    body = {
        "policy": {"name": reranker.policy.name, "file": reranker.source, "sha256": reranker.digest},
        "entries": records,
    }
    try:
        output.write_text(json.dumps(body, indent=2, ensure_ascii=False), "utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc}")
    typer.echo(f"{len(records)} entries re-ranked with policy {reranker.policy.name} → {output}")


def _print_decisions(records: list[dict]) -> None:
    for rec in records:
        reason = rec["reasons"][0] if rec["reasons"] else None
        why = f"{reason['rule']}: {reason['category']} {reason['score']:.2f}" if reason else ""
        position = "-" if rec["position"] is None else str(rec["position"])
        typer.echo(f"{position:>4} {rec['rank']:>4} {rec['action']:7} {rec['title'][:40]:40} {why}")


def _missing(value) -> bool:
    return value is None or value != value  # NaN
