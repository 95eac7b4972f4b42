"""`qinglang train` and the metrics summary it shares with `evaluate`."""

from __future__ import annotations

from pathlib import Path

import typer

from qinglang.cli.common import DataDirOption, fail, setup_logging
from qinglang.data.errors import DataError


def train(
    config: Path | None = typer.Option(
        None, "--config", help="Training config YAML (default: the shipped default.yaml)."
    ),
    data_dir: Path | None = DataDirOption,
    out: Path | None = typer.Option(None, "--out", help="Also keep the report and metrics in this folder."),
    no_register: bool = typer.Option(False, "--no-register", help="Log the model without registering it."),
) -> None:
    """Train on the configured corpora, evaluate on held-out splits, log to MLflow, register."""
    from qinglang.training.config import load_config
    from qinglang.training.train import train as run_training

    setup_logging()
    try:
        cfg = load_config(config)
        if data_dir is not None and not data_dir.is_dir():
            fail(f"data directory not found: {data_dir}")
        result = run_training(cfg, data_dir, out, register=not no_register)
    except DataError as exc:
        fail(str(exc))
    typer.echo(f"run: {result.run_id}")
    typer.echo(f"model: {result.model_uri}")
    if result.registered_version:
        typer.echo(
            f"registered: models:/{cfg.mlflow.registered_model}@{cfg.mlflow.alias} (version {result.registered_version})"
        )
    typer.echo(f"report: {result.out_dir / 'report.md'}")
    results = result.results
    shown = results[(results["source"] == "all") | (results["split"] == "test")] if not results.empty else results
    print_summary(shown)


def print_summary(results) -> None:
    from qinglang.training.metrics import MACRO, MACRO_MIN_POSITIVES

    if results.empty:
        return
    ok = results[(results["status"] == "ok") & ~results["category"].str.startswith("_")]
    for rec in ok.itertuples(index=False):
        typer.echo(
            f"  {rec.split:5} {rec.source:24} {rec.category:17} n={rec.n:6} pos={rec.support:5} P={rec.precision:.3f} "
            f"R={rec.recall:.3f} F1={rec.f1:.3f} acc={rec.accuracy:.3f} AP={rec.average_precision:.3f}"
        )
    for rec in results[results["category"] == f"{MACRO}_{MACRO_MIN_POSITIVES}pos"].itertuples(index=False):
        typer.echo(
            f"  {rec.split:5} {rec.source:24} macro AP over categories with >= {MACRO_MIN_POSITIVES} positives: "
            f"{rec.average_precision:.3f}"
        )
