"""What every command shares: how it fails, how it logs, and the options it repeats."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import typer

MODEL_HELP = "models:/NAME@ALIAS, runs:/RUN_ID/model, or a local model folder."

DataDirOption = typer.Option(
    None,
    "--data-dir",
    envvar="QINGLANG_DATA_DIR",
    help="Folder of the public corpora (default: $QINGLANG_DATA_DIR; neither: the shipped demo set).",
)
DataOption = typer.Option(
    None,
    "--data",
    help="Labeled file in the canonical format (text + category columns). Without it: the held-out splits of the model's own training corpora.",
)
SplitOption = typer.Option(
    None, "--split", help="Held-out split(s) (default: the training run's evaluation splits); repeatable."
)
SourceOption = typer.Option(
    None, "--source", help="Only these sources (e.g. cold, weibo_trending_labeled); repeatable."
)
TextColumnOption = typer.Option("text", "--text-column")


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 2: the contract for bad input of any kind."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("mlflow", "alembic", "urllib3", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def show_progress(progress: bool | None) -> bool:
    """--progress/--no-progress; unset: when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress
