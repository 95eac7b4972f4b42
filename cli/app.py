"""The `qinglang` command: the Typer app with every command group registered in the order
`--help` lists them. Each command lives in the module named for its job."""

from __future__ import annotations

import typer

from qinglang.cli.evaluate import compare, evaluate, promote
from qinglang.cli.label import label_app
from qinglang.cli.score import score
from qinglang.cli.serve import serve
from qinglang.cli.sources import sources
from qinglang.cli.train import train
from qinglang.cli.trending import audit, rerank

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="qinglang (清朗): flag low-value and harmful Chinese content."
)

for command in (train, score, evaluate, compare, promote, serve, audit, rerank, sources):
    app.command()(command)
app.add_typer(label_app, name="label")

if __name__ == "__main__":
    app()
