"""`qinglang serve`: the HTTP service, in one process or several."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from qinglang.cli.common import fail, setup_logging


def serve(
    model: str = typer.Option(
        ..., "--model", envvar="QINGLANG_MODEL", help="models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."
    ),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes; each loads the model (about 420 MB resident each)."
    ),
    max_items: int = typer.Option(1000, "--max-items", envvar="QINGLANG_MAX_ITEMS", min=1),
    max_text_chars: int = typer.Option(10_000, "--max-text-chars", envvar="QINGLANG_MAX_TEXT_CHARS", min=1),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes", envvar="QINGLANG_MAX_BODY_BYTES", min=1),
    access_log: bool = typer.Option(
        False, "--access-log/--no-access-log", help="Log every request (metrics count them either way)."
    ),
    policy: Path | None = typer.Option(
        None,
        "--policy",
        envvar="QINGLANG_RERANK_POLICY",
        help="Re-rank policy YAML for /v1/trending/rerank (default: the shipped one).",
    ),
    drain_seconds: float = typer.Option(
        2.0,
        "--drain-seconds",
        envvar="QINGLANG_DRAIN_SECONDS",
        min=0,
        help="After SIGTERM: seconds to keep accepting and serving while /readyz answers 503.",
    ),
    graceful_timeout: float = typer.Option(
        20.0,
        "--graceful-timeout",
        envvar="QINGLANG_GRACEFUL_TIMEOUT",
        min=0,
        help="Then: seconds requests in flight may take to finish before they are cancelled.",
    ),
) -> None:
    """HTTP service: POST /v1/moderate, POST /v1/trending/rerank, GET /v1/taxonomy, /healthz, /readyz, /metrics, /docs.
    Set QINGLANG_API_KEY to require `Authorization: Bearer <key>` on everything but /healthz and /readyz."""
    from qinglang.serve.settings import HttpSettings

    setup_logging()
    settings = HttpSettings(
        max_items=max_items,
        max_text_chars=max_text_chars,
        max_body_bytes=max_body_bytes,
        api_key=os.environ.get("QINGLANG_API_KEY") or None,
        rerank_policy=str(policy) if policy else None,
        drain_seconds=drain_seconds,
        graceful_timeout=graceful_timeout,
    )
    if workers > 1:
        _serve_workers(model, settings, host, port, workers, access_log)
        return
    _serve_in_process(model, settings, host, port, access_log)


def _serve_workers(model: str, settings, host: str, port: int, workers: int, access_log: bool) -> None:
    """The supervisor imports no model code and holds no model."""
    from qinglang.models.registry import ModelLoadError
    from qinglang.serve.runner import check_model_in_child, run_workers

    try:
        described = check_model_in_child(model, settings.rerank_policy)
    except ModelLoadError as exc:
        fail(str(exc))
    key = "required" if settings.api_key else "not required"
    typer.echo(f"serving {described} on http://{host}:{port} with {workers} workers; API key {key}", err=True)
    run_workers(model, settings, host, port, workers, access_log)


def _serve_in_process(model: str, settings, host: str, port: int, access_log: bool) -> None:
    from qinglang.models.registry import ModelLoadError
    from qinglang.serve.http import create_app
    from qinglang.serve.predictor import Predictor
    from qinglang.serve.runner import serve_in_process
    from qinglang.trending.rerank import PolicyError

    try:  # fail fast on a broken model or policy, before binding the port
        predictor = Predictor.load(model)
        application = create_app(predictor, settings)
    except (ModelLoadError, PolicyError) as exc:
        fail(str(exc))
    key = "required" if settings.api_key else "not required"
    typer.echo(
        f"serving {predictor.info.name} version {predictor.info.version} on http://{host}:{port}; API key {key}",
        err=True,
    )
    serve_in_process(application, settings, host, port, access_log)
