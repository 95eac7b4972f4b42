"""The `qinglang` command: train, score, evaluate."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

from qinglang.data.errors import DataError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="qinglang (清朗): flag low-value and harmful Chinese content.")

DataDirOption = typer.Option(None, "--data-dir", envvar="QINGLANG_DATA_DIR", help="Folder of the public corpora (default: $QINGLANG_DATA_DIR; neither: the shipped demo set).")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("mlflow", "alembic", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command()
def train(
    config: Optional[Path] = typer.Option(None, "--config", help="Training config YAML (default: the shipped default.yaml)."),
    data_dir: Optional[Path] = DataDirOption,
    out: Optional[Path] = typer.Option(None, "--out", help="Also keep the report and metrics in this folder."),
    no_register: bool = typer.Option(False, "--no-register", help="Log the model without registering it."),
) -> None:
    """Train on the configured corpora, evaluate on held-out splits, log to MLflow, register."""
    from qinglang.training.config import load_config
    from qinglang.training.train import train as run_training

    _setup_logging()
    try:
        cfg = load_config(config)
        if data_dir is not None and not data_dir.is_dir():
            _fail(f"data directory not found: {data_dir}")
        result = run_training(cfg, data_dir, out, register=not no_register)
    except DataError as exc:
        _fail(str(exc))
    typer.echo(f"run: {result.run_id}")
    typer.echo(f"model: {result.model_uri}")
    if result.registered_version:
        typer.echo(f"registered: models:/{cfg.mlflow.registered_model}@{cfg.mlflow.alias} (version {result.registered_version})")
    typer.echo(f"report: {result.out_dir / 'report.md'}")
    shown = result.results[(result.results["source"] == "all") | (result.results["split"] == "test")] if not result.results.empty else result.results
    _print_summary(shown)


def _print_summary(results) -> None:
    if results.empty:
        return
    ok = results[(results["status"] == "ok") & ~results["category"].str.startswith("_")]
    for rec in ok.itertuples(index=False):
        typer.echo(f"  {rec.split:5} {rec.source:24} {rec.category:17} n={rec.n:6} pos={rec.support:5} P={rec.precision:.3f} R={rec.recall:.3f} F1={rec.f1:.3f} acc={rec.accuracy:.3f} AP={rec.average_precision:.3f}")


@app.command()
def score(
    model: str = typer.Option(..., "--model", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."),
    input: Path = typer.Option(..., "--input", help="CSV, TSV, Parquet or JSONL file, any size."),
    output: Path = typer.Option(..., "--output", help="Output file; its type follows its extension. Appears only when complete."),
    text_column: str = typer.Option("text", "--text-column"),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Worker processes (default: every available core)."),
    chunk_rows: int = typer.Option(5000, "--chunk-rows", min=1, help="Rows read, scored and written at a time."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: when stderr is a terminal)."),
) -> None:
    """Add score_K (probability) and flag_K (0/1) for every category K to a table file."""
    from qinglang.serve.loading import ModelLoadError, load_bundle
    from qinglang.serve.scoring import score_file

    try:
        bundle = load_bundle(model)
        summary = score_file(bundle, input, output, text_column, progress=sys.stderr.isatty() if progress is None else progress, jobs=jobs, chunk_rows=chunk_rows)
    except (DataError, ModelLoadError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {output}: {exc}")
    typer.echo(f"scored {summary.rows} rows in {summary.chunks} chunk(s) with {summary.jobs} process(es) → {output}")


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."),
    data: Path = typer.Option(..., "--data", help="Labeled file in the canonical format (text + category columns)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the metrics here as JSON."),
    text_column: str = typer.Option("text", "--text-column"),
) -> None:
    """Metrics per category on a labeled file."""
    from qinglang.data.loaders.tabular import read_labeled_file
    from qinglang.serve.loading import ModelLoadError, load_bundle
    from qinglang.training.evaluate import evaluate_table

    try:
        bundle = load_bundle(model)
        frame, _ = read_labeled_file(data, bundle.taxonomy, text_column=text_column)
    except (DataError, ModelLoadError) as exc:
        _fail(str(exc))
    frame["split"] = frame["split"].fillna("test")
    scores = bundle.classifier.predict_proba(frame["text"])
    results = evaluate_table(frame, scores, bundle.classifier.flags(scores), bundle.categories, bundle.classifier.trained_)
    _print_summary(results)
    skipped = results[results["status"] != "ok"]
    for rec in skipped.itertuples(index=False):
        typer.echo(f"  {rec.split:5} {rec.source:24} {rec.category:17} n={rec.n} pos={rec.support}: {rec.status}")
    if json_out:
        json_out.write_text(json.dumps(json.loads(results.to_json(orient="records")), indent=2, ensure_ascii=False), "utf-8")
        typer.echo(f"metrics → {json_out}")


@app.command()
def serve(
    model: str = typer.Option(..., "--model", envvar="QINGLANG_MODEL", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes; each loads the model (about 420 MB resident each)."),
    max_items: int = typer.Option(1000, "--max-items", envvar="QINGLANG_MAX_ITEMS", min=1),
    max_text_chars: int = typer.Option(10_000, "--max-text-chars", envvar="QINGLANG_MAX_TEXT_CHARS", min=1),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes", envvar="QINGLANG_MAX_BODY_BYTES", min=1),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Log every request (metrics count them either way)."),
) -> None:
    """HTTP service: POST /v1/moderate, GET /v1/taxonomy, /healthz, /readyz, /metrics, /docs.
    Set QINGLANG_API_KEY to require `Authorization: Bearer <key>` on /v1/*."""
    import os

    from qinglang.serve.runner import check_model_in_child, run_workers
    from qinglang.serve.settings import HttpSettings, ModelLoadError

    _setup_logging()
    settings = HttpSettings(max_items, max_text_chars, max_body_bytes, os.environ.get("QINGLANG_API_KEY") or None)
    key = "required" if settings.api_key else "not required"
    if workers > 1:  # the supervisor imports no model code and holds no model
        try:
            described = check_model_in_child(model)
        except ModelLoadError as exc:
            _fail(str(exc))
        typer.echo(f"serving {described} on http://{host}:{port} with {workers} workers; API key {key}", err=True)
        run_workers(model, settings, host, port, workers, access_log)
        return

    import uvicorn

    from qinglang.serve.http import create_app
    from qinglang.serve.predictor import Predictor

    try:  # fail fast on a broken model, before binding the port
        predictor = Predictor.load(model)
    except ModelLoadError as exc:
        _fail(str(exc))
    typer.echo(f"serving {predictor.info.name} version {predictor.info.version} on http://{host}:{port}; API key {key}", err=True)
    uvicorn.run(create_app(predictor, settings), host=host, port=port, access_log=access_log, log_level="info")


@app.command()
def sources(taxonomy: Optional[Path] = typer.Option(None, "--taxonomy", help="Taxonomy YAML (default: the shipped one).")) -> None:
    """List the corpus readers and the categories each speaks for, per the taxonomy."""
    from qinglang.data.loaders import REGISTRY
    from qinglang.data.taxonomy import load_taxonomy

    try:
        tax = load_taxonomy(taxonomy)
    except DataError as exc:
        _fail(str(exc))
    for name, reader in sorted(REGISTRY.items()):
        speaks = tax.speaks_for(name)
        cats = ", ".join(f"{k} ({'/'.join(sorted(v)) or 'all negative'})" for k, v in speaks.items()) or "nothing (not used)"
        typer.echo(f"{name:24} {reader.folder + '/':24} {reader.description}\n{'':24} speaks for: {cats}")


if __name__ == "__main__":
    app()
