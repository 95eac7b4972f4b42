"""`qinglang label ...`: the labeling loop. Select a batch where labels help most, label it
in the browser (or in Label Studio), measure agreement, settle disagreements, export the
table `qinglang train` reads, and find likely label errors for re-review."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from qinglang.cli.common import MODEL_HELP, DataDirOption, TextColumnOption, fail, setup_logging
from qinglang.data.errors import DataError

label_app = typer.Typer(no_args_is_help=True, help="The labeling loop: select, label, agree, export, issues.")

DbOption = typer.Option(..., "--db", help="The label database (SQLite; created by `label serve` or `label ls-import`).")
TaxonomyOption = typer.Option(None, "--taxonomy", help="Taxonomy YAML (default: the shipped one).")
LABELED_TRENDING = "weibo_trending_labeled"


def _taxonomy(path: Path | None):
    from qinglang.data.taxonomy import load_taxonomy

    return load_taxonomy(path)


def _store(db: Path, taxonomy: Path | None, create: bool):
    from qinglang.labeling.store import LabelStore

    return LabelStore(db, _taxonomy(taxonomy), create=create)


def _read_batch(path: Path):
    from qinglang.data.loaders.tabular import read_table

    return read_table(path)


def _excluded_texts(exclude: list[Path], db: Path | None, data_dir: Path | None, taxonomy: Path | None) -> list[str]:
    """Texts labeled already: the tables named, the label database, and the labeled trending set."""
    from qinglang.labeling.pool import labeled_texts

    texts = labeled_texts(exclude)
    if db is not None and db.is_file():
        texts += _store(db, taxonomy, create=False).items()["text"].tolist()
    if data_dir is not None and (data_dir / LABELED_TRENDING).is_dir():
        texts += labeled_texts([data_dir / LABELED_TRENDING])
    return texts


@label_app.command("select")
def select(  # noqa: PLR0913 - a command: each option is a parameter
    pool: Path = typer.Option(..., "--pool", help="Trending archive folder (YYYY-MM-DD.json day files) or a table."),
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="The batch (CSV): item_id, text, kind, selected_by, ..."),
    n: int = typer.Option(200, "--n", min=1, help="Rows in the batch."),
    strategy: str = typer.Option(
        "uncertainty", "--strategy", help="uncertainty, likely-positive, seed-terms or random."
    ),
    category: str | None = typer.Option(None, "--category", help="The category to select for (all: uncertainty only)."),
    seeds: str = typer.Option("", "--seeds", help='Seed terms for seed-terms, comma-separated: "星座,运势,塔罗".'),
    random_share: float = typer.Option(0.2, "--random-share", help="Share of the batch drawn uniformly (unbiased)."),
    exclude: list[Path] = typer.Option([], "--exclude", help="Labeled tables (or folders) to leave out; repeatable."),
    db: Path | None = typer.Option(None, "--db", help="A label database whose items are left out."),
    text_column: str = TextColumnOption,
    date_from: datetime | None = typer.Option(None, "--from", formats=["%Y-%m-%d"], help="Archive: first day."),
    date_to: datetime | None = typer.Option(None, "--to", formats=["%Y-%m-%d"], help="Archive: last day."),
    seed: int = typer.Option(0, "--seed"),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Choose the next batch to label from a pool of unlabeled texts."""
    from qinglang.labeling.pool import PoolSpec, read_pool
    from qinglang.labeling.select import SelectRequest, select_batch
    from qinglang.models.registry import ModelLoadError, load_bundle

    setup_logging()
    request = SelectRequest(
        n, strategy, category, tuple(s.strip() for s in seeds.split(",") if s.strip()), random_share, seed=seed
    )
    spec = PoolSpec(pool, text_column, date_from.date() if date_from else None, date_to.date() if date_to else None)
    try:
        bundle = load_bundle(model)
        selection = select_batch(request, bundle, read_pool(spec), _excluded_texts(exclude, db, data_dir, None))
    except (DataError, ModelLoadError) as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    selection.batch.to_csv(out, index=False)
    parts = ", ".join(f"{k} {v}" for k, v in sorted(selection.counts.items()))
    typer.echo(
        f"{len(selection.batch)} rows -> {out} ({parts}); pool {selection.pool_size} texts, "
        f"{selection.excluded} left out as labeled or near-duplicates of labeled texts"
    )
    if selection.seed_hits is not None:
        typer.echo(f"{selection.seed_hits} pool texts contain a seed term; the rest of the batch are their neighbours")
    if len(selection.batch) < n:
        typer.echo(f"note: only {len(selection.batch)} of {n} rows: the pool has no more distinct candidates")


@label_app.command("serve")
def serve(
    batch: Path | None = typer.Option(None, "--batch", help="A batch to add to the database (CSV etc. with `text`)."),
    db: Path = typer.Option(..., "--db", help="The label database (SQLite), created if missing."),
    labeler: str | None = typer.Option(
        None, "--labeler", help="Only this labeler (default: the page asks for a name)."
    ),
    adjudicator: str | None = typer.Option(None, "--adjudicator", help="Who may settle disagreements on /adjudicate."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8765, "--port"),
    taxonomy: Path | None = TaxonomyOption,
) -> None:
    """The labeling page: one text at a time, keyboard shortcuts, every answer saved at once."""
    from qinglang.labeling.web.app import LabelServerSettings
    from qinglang.labeling.web.server import run_label_server

    try:
        store = _store(db, taxonomy, create=True)
        name = None
        if batch is not None:
            name = batch.stem
            added = store.add_batch(_read_batch(batch), name)
            typer.echo(f"{added} new items from {batch} (batch {name!r})")
        if store.items().empty:
            fail("the database has no items: give a batch with --batch")
    except DataError as exc:
        fail(str(exc))
    settings = LabelServerSettings(db=db, taxonomy=store.taxonomy, batch=name, labeler=labeler, adjudicator=adjudicator)
    typer.echo(f"labeling page: http://{host}:{port}/  (adjudication: /adjudicate)")
    run_label_server(settings, host=host, port=port)


@label_app.command("agree")
def agree(
    db: Path = DbOption,
    out: Path | None = typer.Option(None, "--out", help="Write the disagreements here (CSV)."),
    show: int = typer.Option(20, "--show", help="Disagreements to print."),
    taxonomy: Path | None = TaxonomyOption,
) -> None:
    """Cohen's κ per category and labeler pair, and the items labelers disagree on."""
    from qinglang.labeling.agree import agreement, disagreements

    try:
        store = _store(db, taxonomy, create=False)
        kappas, disputed = agreement(store), disagreements(store)
    except DataError as exc:
        fail(str(exc))
    if kappas.empty:
        typer.echo("no item has answers from two labelers yet: κ needs double annotation")
    else:
        typer.echo(kappas.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="n/a"))
    open_items = disputed[~disputed["settled"]]
    typer.echo(
        f"\n{len(disputed)} disagreements on {disputed['item_id'].nunique()} items "
        f"({len(open_items)} not settled; settle them on the page's /adjudicate)"
    )
    if len(open_items):
        typer.echo(open_items.head(show).to_string(index=False))
    if out is not None:
        disputed.to_csv(out, index=False)
        typer.echo(f"-> {out}")


@label_app.command("export")
def export(
    db: Path = DbOption,
    out: Path = typer.Option(..., "--out", help="The labeled table (CSV, Parquet or JSONL by its suffix)."),
    source: str = typer.Option("labeled", "--source", help="The rows' source name (per-source weights, metrics)."),
    taxonomy: Path | None = TaxonomyOption,
) -> None:
    """Write the canonical labeled table that `qinglang train` reads through data.files."""
    from qinglang.data.loaders.tabular import table_format
    from qinglang.labeling.agree import export_table

    try:
        fmt = table_format(out)
        table = export_table(_store(db, taxonomy, create=False), source)
    except DataError as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        table.to_parquet(out, index=False)
    elif fmt == "jsonl":
        table.to_json(out, orient="records", lines=True, force_ascii=False)
    else:
        table.to_csv(out, index=False, sep="\t" if fmt == "tsv" else ",")
    unknown = int(table[_taxonomy(taxonomy).keys].isna().any(axis=1).sum())
    typer.echo(
        f"{len(table)} labeled rows -> {out} ({int(table['adjudicated'].sum())} adjudicated; "
        f"{unknown} with a category left blank by an unsettled disagreement)"
    )


@label_app.command("issues")
def issues(
    category: str = typer.Option(..., "--category", help="The category whose labels to check."),
    out: Path = typer.Option(..., "--out", help="The suspect rows, ranked, as a batch (CSV) for re-review."),
    data: Path | None = typer.Option(None, "--data", help="A labeled table (canonical format)."),
    source: str | None = typer.Option(None, "--source", help=f"Or a corpus, e.g. {LABELED_TRENDING}."),
    config: Path | None = typer.Option(None, "--config", help="Training config for the model (default: shipped)."),
    folds: int = typer.Option(5, "--folds", min=2),
    show: int = typer.Option(10, "--show"),
    data_dir: Path | None = DataDirOption,
) -> None:
    """Rows whose label is likely wrong (cleanlab on out-of-fold probabilities)."""
    from qinglang.labeling.label_issues import IssueRequest, find_issues
    from qinglang.training.config import load_config

    setup_logging()
    try:
        tax = _taxonomy(None)
        table = _labeled_table(data, source, data_dir, tax)
        found = find_issues(table, tax, load_config(config), IssueRequest(category, folds))
    except DataError as exc:
        fail(str(exc))
    found.to_csv(out, index=False)
    known = int(table[category].notna().sum())
    typer.echo(
        f"{len(found)} of {known} labeled rows look mislabeled for {category} "
        f"({int((found['given'] == 1).sum())} marked positive, {int((found['given'] == 0).sum())} negative) -> {out}"
    )
    typer.echo(found.head(show)[["text", "given", "p_positive", "label_quality"]].to_string(index=False))


def _labeled_table(data: Path | None, source: str | None, data_dir: Path | None, taxonomy):
    from qinglang.data.dataset import to_canonical
    from qinglang.data.loaders import read_native
    from qinglang.data.loaders.tabular import read_labeled_file

    if (data is None) == (source is None):
        raise DataError("give exactly one of --data FILE or --source NAME")
    if data is not None:
        return read_labeled_file(data, taxonomy)[0]
    if data_dir is None:
        raise DataError("--source needs --data-dir (or $QINGLANG_DATA_DIR)")
    return to_canonical(read_native(source, data_dir), taxonomy)


@label_app.command("ls-export")
def ls_export(
    batch: Path = typer.Option(..., "--batch", help="A batch from `label select`."),
    out: Path = typer.Option(..., "--out", help="Label Studio tasks (JSON); the interface XML is written beside it."),
    taxonomy: Path | None = TaxonomyOption,
) -> None:
    """A batch as Label Studio tasks, with the labeling interface for this taxonomy."""
    from qinglang.labeling.labelstudio import write_tasks

    try:
        tasks, xml = write_tasks(_read_batch(batch), _taxonomy(taxonomy), out)
    except DataError as exc:
        fail(str(exc))
    typer.echo(f"tasks -> {tasks}; labeling interface -> {xml} (Settings → Labeling Interface → Code)")


@label_app.command("ls-import")
def ls_import(
    export_file: Path = typer.Option(..., "--file", help="Label Studio's JSON export."),
    db: Path = typer.Option(..., "--db", help="The label database (created if missing)."),
    batch_name: str | None = typer.Option(None, "--batch-name", help="Name of the batch (default: the file's stem)."),
    taxonomy: Path | None = TaxonomyOption,
) -> None:
    """Label Studio's JSON export into a label database (then `label agree` / `label export`)."""
    from qinglang.labeling.labelstudio import import_export

    try:
        counts = import_export(export_file, _store(db, taxonomy, create=True), batch_name or export_file.stem)
    except DataError as exc:
        fail(str(exc))
    typer.echo(f"{counts['tasks']} tasks ({counts['new_items']} new items), {counts['answers']} answers -> {db}")
