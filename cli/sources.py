"""`qinglang sources`: each corpus reader and the categories it speaks for."""

from __future__ import annotations

from pathlib import Path

import typer

from qinglang.cli.common import fail
from qinglang.data.errors import DataError


def sources(
    taxonomy: Path | None = typer.Option(None, "--taxonomy", help="Taxonomy YAML (default: the shipped one)."),
) -> None:
    """List the corpus readers and the categories each speaks for, per the taxonomy."""
    from qinglang.data.loaders import REGISTRY
    from qinglang.data.taxonomy import load_taxonomy

    try:
        tax = load_taxonomy(taxonomy)
    except DataError as exc:
        fail(str(exc))
    for name, reader in sorted(REGISTRY.items()):
        speaks = tax.speaks_for(name)
        cats = (
            ", ".join(f"{k} ({'/'.join(sorted(v)) or 'all negative'})" for k, v in speaks.items())
            or "nothing (not used)"
        )
        typer.echo(
            f"{name:24} {reader.folder + '/':24} {reader.description}\n{'':24} kind: {reader.kind}; speaks for: {cats}"
        )
