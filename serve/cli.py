"""The `qinglang` command: train, evaluate, compare, promote, score, serve."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
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
    from qinglang.training.evaluate import MACRO, MACRO_MIN_POSITIVES

    if results.empty:
        return
    ok = results[(results["status"] == "ok") & ~results["category"].str.startswith("_")]
    for rec in ok.itertuples(index=False):
        typer.echo(f"  {rec.split:5} {rec.source:24} {rec.category:17} n={rec.n:6} pos={rec.support:5} P={rec.precision:.3f} R={rec.recall:.3f} F1={rec.f1:.3f} acc={rec.accuracy:.3f} AP={rec.average_precision:.3f}")
    for rec in results[results["category"] == f"{MACRO}_{MACRO_MIN_POSITIVES}pos"].itertuples(index=False):
        typer.echo(f"  {rec.split:5} {rec.source:24} macro AP over categories with >= {MACRO_MIN_POSITIVES} positives: {rec.average_precision:.3f}")


@app.command()
def score(
    model: str = typer.Option(..., "--model", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."),
    input: Path = typer.Option(..., "--input", help="CSV, TSV, Parquet or JSONL file, any size."),
    output: Path = typer.Option(..., "--output", help="Output file; its type follows its extension. Appears only when complete."),
    text_column: str = typer.Option("text", "--text-column"),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Worker processes (default: every available core)."),
    chunk_rows: int = typer.Option(5000, "--chunk-rows", min=1, help="Rows read, scored and written at a time."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: when stderr is a terminal)."),
    profile: Optional[str] = typer.Option(None, "--profile", help="Operating point for the flags, e.g. review or auto (default: the model's)."),
    engine: str = typer.Option("local", "--engine", help="local: forked processes on this machine; spark: a Spark job over Parquet (needs qinglang[spark])."),
    spark_master: Optional[str] = typer.Option(None, "--spark-master", help="With --engine spark: e.g. local[2]; default: what spark-submit or the Spark config says, else local[*]."),
) -> None:
    """Add score_K (probability) and flag_K (0/1) for every category K to a table file."""
    from qinglang.serve.loading import ModelLoadError, load_bundle
    from qinglang.serve.scoring import score_file

    if engine not in ("local", "spark"):
        _fail(f"--engine must be local or spark, not {engine!r}")
    if engine == "spark":
        _score_with_spark(model, input, output, text_column, profile, spark_master)
        return
    try:
        bundle = load_bundle(model)
        summary = score_file(bundle, input, output, text_column, progress=sys.stderr.isatty() if progress is None else progress, jobs=jobs, chunk_rows=chunk_rows, profile=profile)
    except (DataError, ModelLoadError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {output}: {exc}")
    typer.echo(f"scored {summary.rows} rows in {summary.chunks} chunk(s) with {summary.jobs} process(es) → {output}")


def _score_with_spark(model: str, input: Path, output: Path, text_column: str, profile: Optional[str], master: Optional[str]) -> None:
    try:
        from qinglang.serve.spark import score_parquet
    except ImportError as exc:
        _fail(f"--engine spark needs pyspark: pip install 'qinglang[spark]' ({exc})")
    from qinglang.serve.loading import ModelLoadError

    try:
        summary = score_parquet(model, str(input), str(output), text_column, profile, master=master)
    except (DataError, ModelLoadError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"scored {summary.rows} rows with Spark in {summary.seconds:.1f} s → {output} (a Parquet folder)")


def _held_out(bundle, data: Optional[Path], data_dir: Optional[Path], split, source, text_column: str):
    from qinglang.training.assess import held_out_from_corpora, held_out_from_file

    if data is not None:
        return held_out_from_file(bundle, data, text_column, split or None)
    if data_dir is not None:
        return held_out_from_corpora(bundle, data_dir, split or None, source or None)
    _fail("give --data FILE, or --data-dir / QINGLANG_DATA_DIR to use the model's held-out corpus splits")


DataOption = typer.Option(None, "--data", help="Labeled file in the canonical format (text + category columns). Without it: the held-out splits of the model's own training corpora.")
SplitOption = typer.Option(None, "--split", help="Held-out split(s) (default: the training run's evaluation splits); repeatable.")
SourceOption = typer.Option(None, "--source", help="Only these sources (e.g. cold, weibo_trending_labeled); repeatable.")


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."),
    data: Optional[Path] = DataOption,
    data_dir: Optional[Path] = DataDirOption,
    split: Optional[list[str]] = SplitOption,
    source: Optional[list[str]] = SourceOption,
    out: Path = typer.Option(Path("runs/evaluation"), "--out", help="Folder for the report (report.md, PNGs, CSVs)."),
    log_run: bool = typer.Option(True, "--log/--no-log", help="Log the report to MLflow as an evaluation run."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics here as JSON."),
    text_column: str = typer.Option("text", "--text-column"),
) -> None:
    """Per-category report on held-out data, beside the keyword-filter baseline: metrics,
    operating points, per-source breakdown, plots, top errors. Logged to MLflow."""
    from qinglang.serve.loading import ModelLoadError, load_bundle
    from qinglang.training.assess import evaluate_model

    _setup_logging()
    try:
        bundle = load_bundle(model)
        held_out = _held_out(bundle, data, data_dir, split, source, text_column)
        evaluation, run_id = evaluate_model(bundle, held_out, out, model_ref=model, data_dir=data_dir, log_run=log_run)
    except (DataError, ModelLoadError) as exc:
        _fail(str(exc))
    _print_summary(evaluation.results)
    skipped = evaluation.results[evaluation.results["status"] != "ok"]
    for rec in skipped.itertuples(index=False):
        typer.echo(f"  {rec.split:5} {rec.source:24} {rec.category:17} n={rec.n} pos={rec.support}: {rec.status}")
    typer.echo(f"report: {out / 'report.md'}")
    if run_id:
        typer.echo(f"logged: MLflow run {run_id}")
    if json_out:
        json_out.write_text(json.dumps(json.loads(evaluation.results.to_json(orient="records")), indent=2, ensure_ascii=False), "utf-8")
        typer.echo(f"metrics → {json_out}")


def _comparison(baseline_ref: str, candidate_ref: str, data, data_dir, split, source, text_column: str, n_boot: int, seed: int):
    """Both models scored on the candidate's held-out rows; the bootstrap table."""
    from qinglang.serve.loading import load_bundle
    from qinglang.training.compare import compare_scores

    baseline, candidate = load_bundle(baseline_ref), load_bundle(candidate_ref)
    if baseline.categories != candidate.categories:
        raise DataError(f"the models score different categories: {baseline.categories} vs {candidate.categories}")
    held_out = _held_out(candidate, data, data_dir, split, source, text_column)
    fitted_on = set((baseline.metadata.get("data_config") or {}).get("fit_splits", []))
    if data is None and fitted_on & set(held_out.splits):
        raise DataError(f"the baseline model was fitted on split(s) {sorted(fitted_on & set(held_out.splits))}: compare on others")
    texts = held_out.table["text"]
    scored = []
    for bundle in (baseline, candidate):
        proba = bundle.classifier.predict_proba(texts)
        scored.append((proba, bundle.classifier.flags(proba)))
    table = compare_scores(held_out.table, candidate.categories, scored[0], scored[1], n_boot=n_boot, seed=seed)
    return table, held_out


@app.command()
def compare(
    baseline: str = typer.Option(..., "--baseline", help="The model in use, e.g. models:/qinglang@champion."),
    candidate: str = typer.Option(..., "--candidate", help="The model to judge, e.g. models:/qinglang@candidate."),
    data: Optional[Path] = DataOption,
    data_dir: Optional[Path] = DataDirOption,
    split: Optional[list[str]] = SplitOption,
    source: Optional[list[str]] = SourceOption,
    n_boot: int = typer.Option(1000, "--n-boot", min=0, help="Paired bootstrap resamples for the confidence intervals."),
    seed: int = typer.Option(0, "--seed"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the table here as JSON."),
    text_column: str = typer.Option("text", "--text-column"),
) -> None:
    """Side-by-side per-category metrics of two models on the same held-out rows, with
    deltas and paired-bootstrap 95% intervals (* = the interval excludes 0)."""
    from qinglang.serve.loading import ModelLoadError
    from qinglang.training.compare import format_comparison

    _setup_logging()
    try:
        table, held_out = _comparison(baseline, candidate, data, data_dir, split, source, text_column, n_boot, seed)
    except (DataError, ModelLoadError) as exc:
        _fail(str(exc))
    typer.echo(f"baseline {baseline} vs candidate {candidate} on {held_out.description} ({len(held_out.table)} rows)\n")
    typer.echo(format_comparison(table))
    if json_out:
        json_out.write_text(table.to_json(orient="records", indent=2, force_ascii=False), "utf-8")
        typer.echo(f"table → {json_out}")


@app.command()
def promote(
    reason: str = typer.Option(..., "--reason", help="Why this model should serve; recorded on the model version."),
    name: str = typer.Option("qinglang", "--name", help="Registered model name."),
    from_alias: str = typer.Option("candidate", "--from"),
    to_alias: str = typer.Option("champion", "--to"),
    config: Optional[Path] = typer.Option(None, "--config", help="Config whose `promotion` section sets metric and tolerance (default: the shipped one)."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", min=0, help="Override the configured tolerance."),
    force: bool = typer.Option(False, "--force", help="Promote despite regressions (recorded as forced)."),
    data: Optional[Path] = DataOption,
    data_dir: Optional[Path] = DataDirOption,
    split: Optional[list[str]] = SplitOption,
    source: Optional[list[str]] = SourceOption,
    n_boot: int = typer.Option(1000, "--n-boot", min=0),
    text_column: str = typer.Option("text", "--text-column"),
) -> None:
    """Move the registry alias --from (candidate) to --to (champion) only if no category
    regresses beyond the configured tolerance against the current champion on the same
    held-out rows. Records who, when and why as tags on the model version. Exit 1 if refused."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from qinglang.serve.loading import ModelLoadError
    from qinglang.training.compare import format_comparison
    from qinglang.training.config import load_config
    from qinglang.training.promotion import PromotionPolicy, PromotionRefused, promote as run_promotion
    from qinglang.training.tracking import configure_tracking

    _setup_logging()
    try:
        section = load_config(config).promotion
        policy = PromotionPolicy(section.metric, section.tolerance if tolerance is None else tolerance,
                                 tuple(section.categories) if section.categories else None)
        configure_tracking()
        client = MlflowClient()
        comparison = None
        if to_alias in client.get_registered_model(name).aliases:
            comparison, held_out = _comparison(f"models:/{name}@{to_alias}", f"models:/{name}@{from_alias}", data, data_dir, split, source, text_column, n_boot, 0)
            typer.echo(f"@{to_alias} vs @{from_alias} on {held_out.description} ({len(held_out.table)} rows)\n")
            typer.echo(format_comparison(comparison))
        result = run_promotion(client, name, from_alias=from_alias, to_alias=to_alias, comparison=comparison, policy=policy, force=force, reason=reason)
    except PromotionRefused as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    except (DataError, ModelLoadError, ValueError, MlflowException) as exc:
        _fail(str(exc))
    typer.echo(result.message)


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
    policy: Optional[Path] = typer.Option(None, "--policy", envvar="QINGLANG_RERANK_POLICY", help="Re-rank policy YAML for /v1/trending/rerank (default: the shipped one)."),
) -> None:
    """HTTP service: POST /v1/moderate, POST /v1/trending/rerank, GET /v1/taxonomy, /healthz, /readyz, /metrics, /docs.
    Set QINGLANG_API_KEY to require `Authorization: Bearer <key>` on /v1/*."""
    import os

    from qinglang.serve.runner import check_model_in_child, run_workers
    from qinglang.serve.settings import HttpSettings, ModelLoadError

    _setup_logging()
    settings = HttpSettings(max_items, max_text_chars, max_body_bytes, os.environ.get("QINGLANG_API_KEY") or None, str(policy) if policy else None)
    key = "required" if settings.api_key else "not required"
    if workers > 1:  # the supervisor imports no model code and holds no model
        try:
            described = check_model_in_child(model, settings.rerank_policy)
        except ModelLoadError as exc:
            _fail(str(exc))
        typer.echo(f"serving {described} on http://{host}:{port} with {workers} workers; API key {key}", err=True)
        run_workers(model, settings, host, port, workers, access_log)
        return

    import uvicorn

    from qinglang.serve.http import create_app
    from qinglang.serve.predictor import Predictor
    from qinglang.serve.rerank import PolicyError

    try:  # fail fast on a broken model or policy, before binding the port
        predictor = Predictor.load(model)
        application = create_app(predictor, settings)
    except (ModelLoadError, PolicyError) as exc:
        _fail(str(exc))
    typer.echo(f"serving {predictor.info.name} version {predictor.info.version} on http://{host}:{port}; API key {key}", err=True)
    uvicorn.run(application, host=host, port=port, access_log=access_log, log_level="info")


@app.command()
def audit(
    archive: Path = typer.Option(..., "--archive", help="Folder of day files YYYY-MM-DD.json, each a JSON list of {url, title} (e.g. weibo_trending/raw)."),
    model: str = typer.Option(..., "--model", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."),
    out: Path = typer.Option(..., "--out", help="Folder for report.md, its PNGs and the tables (days.parquet, days.csv, ...)."),
    date_from: Optional[datetime] = typer.Option(None, "--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD)."),
    date_to: Optional[datetime] = typer.Option(None, "--to", formats=["%Y-%m-%d"], help="Last day (YYYY-MM-DD)."),
    estimator: str = typer.Option("mean_probability", "--estimator", help="mean_probability or adjusted_count."),
    profile: Optional[str] = typer.Option(None, "--profile", help="Operating point for the flag counts and the adjusted count (default: the model's)."),
    n_boot: int = typer.Option(200, "--n-boot", min=0, help="Bootstrap replicates for the intervals."),
    seed: int = typer.Option(0, "--seed"),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Scoring processes (default: every available core)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", envvar="QINGLANG_DATA_DIR", help="Corpora folder; its labeled trending set checks the estimates against people's labels."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bars (default: when stderr is a terminal)."),
) -> None:
    """Per-day share of each category on a trending archive (whole list, top 10, top 50),
    with bootstrap intervals, a report, and a check against labeled titles."""
    from qinglang.serve.audit import run_audit
    from qinglang.serve.audit_report import write_report
    from qinglang.serve.loading import ModelLoadError, load_bundle

    _setup_logging()
    try:
        bundle = load_bundle(model)
        result = run_audit(
            bundle, archive, date_from.date() if date_from else None, date_to.date() if date_to else None,
            estimator=estimator, profile=profile, n_boot=n_boot, seed=seed, jobs=jobs,
            progress=sys.stderr.isatty() if progress is None else progress, data_dir=data_dir,
        )
        report = write_report(result, out, model_ref=model)
    except (DataError, ModelLoadError, ValueError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {out}: {exc}")
    s = result.summary
    typer.echo(f"audited {s['days_read']} days ({s['first_day']} … {s['last_day']}), {s['entries']} entries, {s['distinct_titles']} distinct titles; {s['day_files_skipped']} day file(s) skipped")
    check = result.label_check
    if check is not None:
        typer.echo(f"estimated vs labeled share on {int(check['rows'].iat[0])} uniform dev titles ({estimator}):")
        for rec in check[check[estimator].notna()].itertuples(index=False):
            rec = rec._asdict()
            typer.echo(f"  {rec['category']:17} labeled {100 * rec['labeled_share']:5.1f}%  estimated {100 * rec[estimator]:5.1f}%  abs error {100 * rec[estimator + '_abs_error']:4.1f} points")
    typer.echo(f"report: {report}")


@app.command()
def rerank(
    model: str = typer.Option(..., "--model", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."),
    input: Path = typer.Option(..., "--input", help="JSON list of {id, title, rank, heat?} (or {\"entries\": [...]}), or a CSV/TSV/Parquet/JSONL table with those columns."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Re-rank policy YAML (default: the shipped serve/policies/trending.yaml)."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the decisions here as JSON (default: a table on stdout)."),
) -> None:
    """Re-order a trending list under a policy: an action per entry (keep, demote, review,
    remove) with its reasons (rule, category, score). Deterministic."""
    from qinglang.serve.loading import ModelLoadError, load_bundle
    from qinglang.serve.rerank import PolicyError, Reranker, decision_records, entries_from_records

    try:
        bundle = load_bundle(model)
        reranker = Reranker.from_file(policy, bundle)
        entries = entries_from_records(_read_entries(input), str(input))
        decisions = reranker.rerank(entries)
    except (DataError, ModelLoadError, PolicyError, ValueError) as exc:
        _fail(str(exc))
    records = decision_records(decisions)
    if output is not None:
        body = {"policy": {"name": reranker.policy.name, "file": reranker.source, "sha256": reranker.digest}, "entries": records}
        try:
            output.write_text(json.dumps(body, indent=2, ensure_ascii=False), "utf-8")
        except OSError as exc:
            _fail(f"cannot write {output}: {exc}")
        typer.echo(f"{len(records)} entries re-ranked with policy {reranker.policy.name} → {output}")
        return
    for rec in records:
        reason = rec["reasons"][0] if rec["reasons"] else None
        why = f"{reason['rule']}: {reason['category']} {reason['score']:.2f}" if reason else ""
        position = "-" if rec["position"] is None else str(rec["position"])
        typer.echo(f"{position:>4} {rec['rank']:>4} {rec['action']:7} {rec['title'][:40]:40} {why}")


def _read_entries(path: Path) -> object:
    """Records of a JSON file, or of a table file (its rows as mappings)."""
    import pandas as pd

    from qinglang.data.loaders.tabular import read_table

    if path.suffix.lower() == ".json":
        try:
            return json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            raise DataError("file not found", file=str(path)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"not valid JSON ({exc})", file=str(path)) from None
        except OSError as exc:
            raise DataError(f"cannot be read ({exc.strerror or exc})", file=str(path)) from None
    table = read_table(path)
    records = [{k: (None if pd.isna(v) else v) for k, v in rec.items()} for rec in table.to_dict(orient="records")]
    for rec in records:  # CSV cells are text
        for key in ("rank", "heat"):
            if isinstance(rec.get(key), str):
                rec[key] = _number(rec[key])
    return records


def _number(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


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
