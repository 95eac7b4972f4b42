"""`qinglang evaluate`, `compare` and `promote`: judging trained models on held-out rows."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from qinglang.cli.common import (
    MODEL_HELP,
    DataDirOption,
    DataOption,
    SourceOption,
    SplitOption,
    TextColumnOption,
    fail,
    setup_logging,
)
from qinglang.cli.train import print_summary
from qinglang.data.errors import DataError


def evaluate(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    data: Path | None = DataOption,
    data_dir: Path | None = DataDirOption,
    split: list[str] | None = SplitOption,
    source: list[str] | None = SourceOption,
    out: Path = typer.Option(Path("runs/evaluation"), "--out", help="Folder for the report (report.md, PNGs, CSVs)."),
    log_run: bool = typer.Option(True, "--log/--no-log", help="Log the report to MLflow as an evaluation run."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the metrics here as JSON."),
    text_column: str = TextColumnOption,
) -> None:
    """Per-category report on held-out data, beside the keyword-filter baseline: metrics,
    operating points, per-source breakdown, plots, top errors. Logged to MLflow."""
    from qinglang.models.registry import ModelLoadError, load_bundle
    from qinglang.training.evaluation import EvaluationRequest, HeldOutSpec, evaluate_model, held_out_for

    setup_logging()
    try:
        bundle = load_bundle(model)
        held_out = held_out_for(bundle, HeldOutSpec(data, data_dir, split, source, text_column))
        request = EvaluationRequest(model_ref=model, out_dir=out, data_dir=data_dir, log_run=log_run)
        evaluation, run_id = evaluate_model(bundle, held_out, request)
    except (DataError, ModelLoadError) as exc:
        fail(str(exc))
    print_summary(evaluation.results)
    skipped = evaluation.results[evaluation.results["status"] != "ok"]
    for rec in skipped.itertuples(index=False):
        typer.echo(f"  {rec.split:5} {rec.source:24} {rec.category:17} n={rec.n} pos={rec.support}: {rec.status}")
    typer.echo(f"report: {out / 'report.md'}")
    if run_id:
        typer.echo(f"logged: MLflow run {run_id}")
    if json_out:
        records = json.loads(evaluation.results.to_json(orient="records"))
        json_out.write_text(json.dumps(records, indent=2, ensure_ascii=False), "utf-8")
        typer.echo(f"metrics → {json_out}")


def compare(
    baseline: str = typer.Option(..., "--baseline", help="The model in use, e.g. models:/qinglang@champion."),
    candidate: str = typer.Option(..., "--candidate", help="The model to judge, e.g. models:/qinglang@candidate."),
    data: Path | None = DataOption,
    data_dir: Path | None = DataDirOption,
    split: list[str] | None = SplitOption,
    source: list[str] | None = SourceOption,
    n_boot: int = typer.Option(
        1000, "--n-boot", min=0, help="Paired bootstrap resamples for the confidence intervals."
    ),
    seed: int = typer.Option(0, "--seed"),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the table here as JSON."),
    text_column: str = TextColumnOption,
) -> None:
    """Side-by-side per-category metrics of two models on the same held-out rows, with
    deltas and paired-bootstrap 95% intervals (* = the interval excludes 0)."""
    from qinglang.models.registry import ModelLoadError
    from qinglang.training.compare import format_comparison
    from qinglang.training.evaluation import HeldOutSpec, compare_models

    setup_logging()
    try:
        spec = HeldOutSpec(data, data_dir, split, source, text_column)
        table, held_out = compare_models(baseline, candidate, spec, n_boot, seed)
    except (DataError, ModelLoadError) as exc:
        fail(str(exc))
    typer.echo(f"baseline {baseline} vs candidate {candidate} on {held_out.description} ({len(held_out.table)} rows)\n")
    typer.echo(format_comparison(table))
    if json_out:
        json_out.write_text(table.to_json(orient="records", indent=2, force_ascii=False), "utf-8")
        typer.echo(f"table → {json_out}")


def promote(
    reason: str = typer.Option(..., "--reason", help="Why this model should serve; recorded on the model version."),
    name: str = typer.Option("qinglang", "--name", help="Registered model name."),
    from_alias: str = typer.Option("candidate", "--from"),
    to_alias: str = typer.Option("champion", "--to"),
    config: Path | None = typer.Option(
        None, "--config", help="Config whose `promotion` section sets metric and tolerance (default: the shipped one)."
    ),
    tolerance: float | None = typer.Option(None, "--tolerance", min=0, help="Override the configured tolerance."),
    force: bool = typer.Option(False, "--force", help="Promote despite regressions (recorded as forced)."),
    data: Path | None = DataOption,
    data_dir: Path | None = DataDirOption,
    split: list[str] | None = SplitOption,
    source: list[str] | None = SourceOption,
    n_boot: int = typer.Option(1000, "--n-boot", min=0),
    text_column: str = TextColumnOption,
) -> None:
    """Move the registry alias --from (candidate) to --to (champion) only if no category
    regresses beyond the configured tolerance against the current champion on the same
    held-out rows. Records who, when and why as tags on the model version. Exit 1 if refused."""
    from mlflow.exceptions import MlflowException

    from qinglang.models.registry import ModelLoadError
    from qinglang.training.evaluation import HeldOutSpec
    from qinglang.training.promotion import GatedPromotion, PromotionRefused, promote_gated

    setup_logging()
    request = GatedPromotion(name, reason, from_alias, to_alias, force, config, tolerance, n_boot)
    try:
        result = promote_gated(request, HeldOutSpec(data, data_dir, split, source, text_column), show=typer.echo)
    except PromotionRefused as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    except (DataError, ModelLoadError, ValueError, MlflowException) as exc:
        fail(str(exc))
    typer.echo(result.message)
