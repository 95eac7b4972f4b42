"""Evaluate a trained model on held-out data after the fact (`qinglang evaluate`): rebuild
exactly the held-out rows its training run set aside, or read a labeled file, then write
the report and log it to MLflow as an evaluation run tied to the model.

Rebuilding uses the data settings stored in the model (corpora, files, split fractions),
so hash-assigned splits and cross-source deduplication come out as they did in training;
a split the model was fitted on is refused."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qinglang.data.dataset import FileSource, Sampling, build_dataset, rows_sha256
from qinglang.data.errors import DataError
from qinglang.data.loaders.tabular import read_labeled_file
from qinglang.models.bundle import ModelBundle
from qinglang.models.registry import configure_tracking, load_bundle, use_experiment
from qinglang.training.baseline import keyword_baseline
from qinglang.training.compare import ComparisonSettings, compare_scores
from qinglang.training.metrics import metrics_for_mlflow, row_kinds
from qinglang.training.reports.report import Evaluation, EvaluationInputs, write_evaluation
from qinglang.training.tracking import environment, git_state

log = logging.getLogger("qinglang.assess")


@dataclass
class HeldOut:
    table: pd.DataFrame
    splits: list[str]
    description: str
    sha256: str


@dataclass(frozen=True)
class HeldOutSpec:
    """Where held-out rows come from: a labeled file (`data`), else the held-out splits of
    the model's own training corpora under `data_dir`, optionally only some splits and sources."""

    data: Path | None = None
    data_dir: Path | None = None
    splits: list[str] | None = None
    sources: list[str] | None = None
    text_column: str = "text"


def held_out_for(bundle: ModelBundle, spec: HeldOutSpec) -> HeldOut:
    if spec.data is not None:
        return held_out_from_file(bundle, spec.data, spec.text_column, spec.splits or None)
    if spec.data_dir is not None:
        return held_out_from_corpora(bundle, spec.data_dir, spec.splits or None, spec.sources or None)
    raise DataError("give --data FILE, or --data-dir / QINGLANG_DATA_DIR to use the model's held-out corpus splits")


def compare_models(
    baseline_ref: str, candidate_ref: str, spec: HeldOutSpec, n_boot: int, seed: int
) -> tuple[pd.DataFrame, HeldOut]:
    """Both models scored on the candidate's held-out rows; the paired-bootstrap table."""
    baseline, candidate = load_bundle(baseline_ref), load_bundle(candidate_ref)
    if baseline.categories != candidate.categories:
        raise DataError(f"the models score different categories: {baseline.categories} vs {candidate.categories}")
    held_out = held_out_for(candidate, spec)
    fitted_on = set((baseline.metadata.get("data_config") or {}).get("fit_splits", []))
    if spec.data is None and fitted_on & set(held_out.splits):
        raise DataError(
            f"the baseline model was fitted on split(s) {sorted(fitted_on & set(held_out.splits))}: compare on others"
        )
    texts = held_out.table["text"]
    scored = []
    for bundle in (baseline, candidate):
        kinds = row_kinds(held_out.table)
        proba = bundle.classifier.predict_proba(texts, kinds)
        scored.append((proba, bundle.classifier.flags(proba, None, kinds)))
    settings = ComparisonSettings(n_boot=n_boot, seed=seed)
    table = compare_scores(held_out.table, candidate.categories, scored[0], scored[1], settings)
    return table, held_out


def _sha256(table: pd.DataFrame, categories: list[str]) -> str:
    return rows_sha256(table, ["text", "split", "source", *categories])


def held_out_from_corpora(
    bundle: ModelBundle, data_dir: Path, splits: list[str] | None = None, sources: list[str] | None = None
) -> HeldOut:
    """The rows of `splits` (default: the run's evaluation splits) the model's training run
    set aside, optionally only from `sources`."""
    settings = bundle.metadata.get("data_config")
    if not settings:
        raise DataError(
            "this model does not record its training data settings (trained before they were stored); evaluate it with --data FILE"
        )
    fit_splits = settings["fit_splits"]
    splits = splits or settings["eval_splits"]
    overlap = sorted(set(splits) & set(fit_splits))
    if overlap:
        raise DataError(
            f"split(s) {overlap} were used to fit this model; evaluate on {settings['eval_splits']} or a file it never saw"
        )
    files = [FileSource(f["path"], f["source"], f["text_column"], f.get("kind")) for f in settings["files"]]
    dataset = build_dataset(
        bundle.taxonomy,
        data_dir=data_dir,
        corpora=settings["corpora"],
        files=files,
        sampling=Sampling(settings["dev_fraction"], settings["test_fraction"], settings["max_rows_per_source"]),
    )
    table = dataset.table
    if sources:
        unknown = sorted(set(sources) - set(table["source"]))
        if unknown:
            raise DataError(
                f"source(s) {unknown} are not in this model's data; it has {sorted(table['source'].unique())}"
            )
        table = table[table["source"].isin(sources)]
    table = table[table["split"].isin(splits)].reset_index(drop=True)
    if table.empty:
        raise DataError(f"no rows in split(s) {splits}" + (f" of source(s) {sources}" if sources else ""))
    fingerprint = dataset.fingerprint(bundle.categories)["__all__"]["sha256"]
    if fingerprint != bundle.metadata.get("data_sha256"):
        log.warning(
            "the corpora differ from the ones this model was trained on (fingerprint %s, model %s): "
            "held-out rows are recomputed, but cannot be guaranteed unseen",
            fingerprint[:12],
            str(bundle.metadata.get("data_sha256"))[:12],
        )
    what = f"{', '.join(splits)} split(s) of {', '.join(sources) if sources else 'every source'} from {data_dir}"
    return HeldOut(table, splits, what, _sha256(table, bundle.categories))


def held_out_from_file(
    bundle: ModelBundle, path: Path, text_column: str = "text", splits: list[str] | None = None
) -> HeldOut:
    """A labeled file in the canonical format; rows without a `split` count as `test`. Rows
    in a split the model was fitted on (e.g. `train` rows of the file it was trained on)
    are left out by default, and the description says how many."""
    table, _ = read_labeled_file(path, bundle.taxonomy, text_column=text_column)
    table["split"] = table["split"].fillna("test")
    fit_splits = set((bundle.metadata.get("data_config") or {}).get("fit_splits", []))
    present = sorted(table["split"].unique())
    if splits:
        if set(splits) & fit_splits:
            raise DataError(
                f"split(s) {sorted(set(splits) & fit_splits)} are this model's fit splits; a model is not evaluated on them"
            )
        chosen = [s for s in splits if s in present]
    else:
        chosen = [s for s in present if s not in fit_splits]
    if not chosen:
        raise DataError(
            f"no rows to evaluate: the file has split(s) {present}, the model was fitted on {sorted(fit_splits)}",
            file=str(path),
        )
    kept = table["split"].isin(chosen)
    left_out = int((~kept).sum())
    what = f"labeled file {path}, split(s) {', '.join(chosen)}" + (
        f" ({left_out} rows of other splits left out)" if left_out else ""
    )
    if left_out:
        log.info("%s", what)
    table = table[kept].reset_index(drop=True)
    return HeldOut(table, chosen, what, _sha256(table, bundle.categories))


@dataclass(frozen=True)
class EvaluationRequest:
    """Where an evaluation's report goes and how it is recorded: `model_ref` names the
    evaluated model (report header, MLflow run name and tag), `data_dir` holds the keyword
    lexicons (None: no keyword baseline), and unless `log_run` is False the report is logged
    as a run of `experiment`."""

    model_ref: str
    out_dir: Path
    data_dir: Path | None
    log_run: bool = True
    experiment: str = "qinglang"


def evaluate_model(bundle: ModelBundle, held_out: HeldOut, request: EvaluationRequest) -> tuple[Evaluation, str | None]:
    """Score, write the report to `request.out_dir`, and (unless `request.log_run` is False)
    log it as an MLflow run tagged with the evaluated model. Returns the evaluation and the run id."""
    table, clf = held_out.table, bundle.classifier
    scores = clf.predict_proba(table["text"], row_kinds(table))
    baseline, note = keyword_baseline(bundle.taxonomy, request.data_dir, table["text"])
    inputs = EvaluationInputs(
        table=table,
        scores=scores,
        classifier=clf,
        taxonomy=bundle.taxonomy,
        splits=held_out.splits,
        header=_report_header(bundle, held_out, request.model_ref),
        baseline=baseline,
        baseline_note=note,
    )
    evaluation = write_evaluation(request.out_dir, inputs)
    if not request.log_run:
        return evaluation, None
    return evaluation, _log_evaluation(bundle, held_out, request, evaluation)


def _report_header(bundle: ModelBundle, held_out: HeldOut, model_ref: str) -> dict[str, str]:
    header = {
        "model": f"{model_ref} (run {bundle.metadata.get('run_id', '?')}, trained {bundle.metadata.get('trained_at', '?')})",
        "data": f"{held_out.description}: {len(held_out.table)} rows, sha256 {held_out.sha256[:16]}",
    }
    if bundle.metadata.get("data_mode") == "demo":
        header["warning"] = "this model was trained on the ILLUSTRATIVE demo set; its figures mean nothing"
    return header


def _log_evaluation(bundle: ModelBundle, held_out: HeldOut, request: EvaluationRequest, evaluation: Evaluation) -> str:
    """The report as an MLflow evaluation run tied to the model; its run id."""
    import mlflow

    configure_tracking(create=True)
    use_experiment(request.experiment)
    tags = {
        "qinglang.kind": "evaluation",
        "evaluated_model": request.model_ref,
        "evaluated_run_id": str(bundle.metadata.get("run_id")),
        "data.sha256": held_out.sha256,
        **git_state(),
        **environment(),
    }
    with mlflow.start_run(run_name=f"evaluate {request.model_ref}", tags=tags) as run:
        mlflow.log_params(
            {"data": held_out.description[:500], "data.rows": len(held_out.table), "splits": ",".join(held_out.splits)}
        )
        mlflow.log_metrics(metrics_for_mlflow(evaluation.results))
        if evaluation.baseline_results is not None:
            mlflow.log_metrics(
                {f"keyword_baseline.{k}": v for k, v in metrics_for_mlflow(evaluation.baseline_results).items()}
            )
        for path in evaluation.files:
            mlflow.log_artifact(str(path), artifact_path="report" if path.suffix in (".md", ".png") else "evaluation")
    return run.info.run_id
