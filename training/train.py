"""One training run, end to end: assemble data, fit, evaluate on held-out splits, write
the report, and log everything to MLflow with the model registered under an alias."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

import qinglang.data
import qinglang.features
import qinglang.models
from qinglang.data.dataset import Dataset, FileSource, Sampling, build_dataset, sample_rows
from qinglang.data.errors import DataError
from qinglang.data.files import as_umask_allows
from qinglang.data.loaders import ARCHIVE_FOLDER, load_trending_archive
from qinglang.data.loaders.hot_history import hot_history_path, read_hot_history
from qinglang.data.loaders.lexicons import read_lexicon
from qinglang.data.loaders.tabular import iter_labeled_file
from qinglang.data.schema import dedup_key
from qinglang.data.taxonomy import TITLE, Taxonomy, load_taxonomy
from qinglang.features.new_words import MiningSettings, mine_new_words
from qinglang.features.normalize import normalize_text
from qinglang.features.phonetic import PhoneticMap
from qinglang.features.tokenizer import JiebaTokenizer
from qinglang.features.vectorizer import FeatureSettings, build_vectorizer
from qinglang.models.bundle import ModelBundle, file_sha256
from qinglang.models.multilabel import MultiCategoryClassifier, WeakRows
from qinglang.models.pyfunc import ARTIFACT_KEY, CHECKSUM_KEY, QinglangPyfunc
from qinglang.models.registry import configure_tracking, use_experiment
from qinglang.models.streaming import StreamingClassifier
from qinglang.training.baseline import char_baseline_comparison, keyword_baseline
from qinglang.training.config import TrainConfig
from qinglang.training.metrics import evaluate_table, metrics_for_mlflow, row_kinds
from qinglang.training.reports.report import (
    Evaluation,
    EvaluationInputs,
    char_baseline_section,
    training_sections,
    write_evaluation,
)
from qinglang.training.tracking import environment, git_state, runtime_requirements

log = logging.getLogger("qinglang.train")
DEMO_FILE = "demo/demo.csv"
INPUT_EXAMPLE = ["某顶流明星机场私服曝光", "明天全国大部分地区有雨"]
UNLABELED_USERS = ("self_training", "topics")  # per-category settings left out without unlabeled texts


@dataclass
class TrainResult:
    run_id: str
    model_uri: str
    registered_version: str | None
    results: pd.DataFrame
    out_dir: Path
    bundle: ModelBundle
    dataset: Dataset


def demo_path() -> Path:
    return Path(str(resources.files("qinglang.data").joinpath(DEMO_FILE)))


def assemble(config: TrainConfig, data_dir: Path | None, taxonomy) -> tuple[Dataset, str]:
    """The configured corpora from `data_dir` plus configured files; with neither a data
    directory nor files, the shipped demo set."""
    files = [
        FileSource(f.path, f.source, f.text_column, f.kind or config.model.default_kind) for f in config.data.files
    ]
    if data_dir is not None:
        corpora, mode = config.data.corpora, "corpora"
    elif files:
        log.warning("No data directory: training on the configured files only, without the public corpora.")
        corpora, mode = [], "files"
    else:
        log.warning(
            "No data directory (--data-dir / QINGLANG_DATA_DIR): training on the ILLUSTRATIVE demo set, whose metrics mean nothing."
        )
        corpora, files, mode = [], [FileSource(demo_path(), "demo")], "demo"
    dataset = build_dataset(
        taxonomy,
        data_dir=data_dir,
        corpora=corpora,
        files=files,
        sampling=Sampling(config.data.dev_fraction, config.data.test_fraction, config.data.max_rows_per_source),
    )
    return dataset, mode


def check_category_settings(config: TrainConfig, keys: list[str]) -> None:
    unknown = sorted(set(config.model.categories) - set(keys))
    if unknown:
        raise DataError(f"model.categories names {unknown}, which the taxonomy does not have; its categories: {keys}")
    weak = config.data.weak_labels
    if weak is not None and (unknown := sorted(set(weak.categories) - set(keys))):
        raise DataError(
            f"data.weak_labels.categories names {unknown}, which the taxonomy does not have; its categories: {keys}"
        )
    if weak is not None and config.streaming is not None:
        raise DataError("data.weak_labels is not used by streaming training; remove it or the streaming section")
    wanting = sorted(k for k, spec in config.model.categories.items() if spec.self_training)
    if wanting and config.data.unlabeled_archive is None:
        raise DataError(f"model.categories {wanting} ask for self_training, which needs data.unlabeled_archive")
    wanting = sorted(k for k, spec in config.model.categories.items() if spec.topics)
    if wanting and config.data.unlabeled_archive is None:
        raise DataError(f"model.categories {wanting} ask for topics, which need data.unlabeled_archive")
    if config.features.archive_words and config.data.unlabeled_archive is None:
        raise DataError("features.archive_words needs data.unlabeled_archive")
    if config.streaming is not None and config.data.source_weights:
        raise DataError("data.source_weights is not used by streaming training; remove it or the streaming section")
    if config.streaming is not None and config.model.categories:
        raise DataError(
            f"model.categories {sorted(config.model.categories)}: per-category settings are not used by streaming training "
            "(hashed features, one SGD model per category); remove them or the streaming section"
        )
    phonetic = config.features.phonetic
    if phonetic is not None:
        unknown = sorted(set(phonetic.categories) - set(keys))
        if unknown:
            raise DataError(
                f"features.phonetic.categories names {unknown}, which the taxonomy does not have; its categories: {keys}"
            )
        if not config.features.deobfuscate:
            raise DataError("features.phonetic needs features.deobfuscate: true (it runs inside that step)")


def unlabeled_texts(config: TrainConfig, data_dir: Path | None, labeled: pd.DataFrame) -> list[str] | None:
    """Archive titles for self-training, word mining and the phonetic map's ordinary-use
    check, or None when nothing uses them or there is no data directory (the demo set has
    no archive: they are then skipped, with a warning)."""
    spec, f = config.data.unlabeled_archive, config.features
    users = f.archive_words or f.phonetic or any(c.reads_unlabeled for c in config.model.categories.values())
    if spec is None or not users:
        return None
    if data_dir is None:
        log.warning(
            "No data directory: self-training, topics, archive words and the phonetic map skipped "
            "(they read the corpora folder)."
        )
        return None
    archive = load_trending_archive(Path(data_dir) / ARCHIVE_FOLDER, date_to=spec.before - timedelta(days=1))
    if archive.problems:
        log.warning("archive: %d day files skipped (first: %s)", len(archive.problems), archive.problems[0])
    titles = archive.titles[~archive.titles["title"].isin(set(labeled["text"]))]
    if config.data.max_rows_per_source:
        titles = sample_rows(titles.rename(columns={"title": "text"}), config.data.max_rows_per_source).rename(
            columns={"text": "title"}
        )
    titles = titles["title"].tolist()
    log.info("unlabeled pool: %d archive titles first seen before %s", len(titles), spec.before)
    return titles


def fit_labels(fit_rows: pd.DataFrame, keys: list[str], config: TrainConfig) -> pd.DataFrame:
    """The label matrix the classifier is fitted on: a category restricted to some
    `fit_sources` sees the other sources' labels as unknown."""
    labels = fit_rows[keys].copy()
    present = set(fit_rows["source"])
    for key, spec in config.model.categories.items():
        if spec.fit_sources is None:
            continue
        missing = sorted(set(spec.fit_sources) - present)
        if missing:
            raise DataError(
                f"model.categories.{key}.fit_sources names {missing}, which this run has no fit rows from; its sources: {sorted(present)}"
            )
        labels.loc[~fit_rows["source"].isin(spec.fit_sources), key] = np.nan
    return labels


def weak_rows(config: TrainConfig, data_dir: Path | None, data: RunData, release: bool) -> tuple[WeakRows | None, dict]:
    """Weibo's topic tags as weak labels (data.weak_labels), one row per distinct title not
    labeled anywhere, and the fingerprint entry of the file; (None, {}) when not configured
    or without a data directory. The evaluated model reads rows dated before `before` only."""
    spec = config.data.weak_labels
    if spec is None or data_dir is None:
        return None, {}
    rows = read_hot_history(data_dir)
    if not release:
        rows = rows[rows["day"] < pd.Timestamp(spec.before)]
    labeled = set(data.dataset.table["text"].map(dedup_key))
    rows = rows[~rows["title"].map(dedup_key).isin(labeled)]
    tags = rows.dropna(subset=["tag"]).groupby("title", sort=True)["tag"].agg(lambda t: t.value_counts().index[0])
    keys = data.taxonomy.keys
    Y = np.full((len(tags), len(keys)), np.nan)
    for key, rule in spec.categories.items():
        column = np.where(tags.isin(rule.positive), 1.0, 0.0)
        Y[:, keys.index(key)] = np.where(tags.isin(rule.ignore), np.nan, column)
    keep = ~np.isnan(Y).all(axis=1)
    log.info(
        "weak labels: %d distinct hot-search titles at weight %s%s",
        int(keep.sum()),
        spec.weight,
        "" if release else f", dated before {spec.before}",
    )
    entry = {"weak:weibo_hot_history": {"rows": int(keep.sum()), "sha256": file_sha256(hot_history_path(data_dir))}}
    return WeakRows(tags.index[keep].tolist(), Y[keep], TITLE, spec.weight), entry


def source_weights(config: TrainConfig, fit_rows: pd.DataFrame) -> np.ndarray | None:
    """Per fit row, its source's weight from `data.source_weights` (1 for the others); None
    when no weights are configured. Naming a source the run has no fit rows from is an error."""
    weights = config.data.source_weights
    if not weights:
        return None
    missing = sorted(set(weights) - set(fit_rows["source"]))
    if missing:
        raise DataError(
            f"data.source_weights names {missing}, which this run has no fit rows from; its sources: {sorted(set(fit_rows['source']))}"
        )
    return fit_rows["source"].map(weights).fillna(1.0).to_numpy(dtype=float)


def tokenizer_for(config: TrainConfig, unlabeled: list[str] | None) -> JiebaTokenizer:
    """jieba with the configured user dictionary plus, if asked, words mined from the archive."""
    f = config.features
    tokenizer = JiebaTokenizer.from_user_dict(f.user_dict, hmm=f.hmm)
    if f.archive_words is None or unlabeled is None:
        return tokenizer
    mined = mine_new_words(
        [normalize_text(t, f.max_chars, f.deobfuscate) for t in unlabeled],
        known=tokenizer.dictionary_words(),
        settings=MiningSettings(min_count=f.archive_words.min_count, max_words=f.archive_words.max_words),
    )
    log.info("archive words: %d added to the jieba dictionary", len(mined))
    return JiebaTokenizer(tokenizer.user_words + tuple((w, None, None) for w, _ in mined), hmm=f.hmm)


def phonetic_map(
    config: TrainConfig, taxonomy, data_dir: Path | None, unlabeled: list[str] | None
) -> PhoneticMap | None:
    """The pinyin / homophone map of the configured categories' lexicon terms; without a
    data directory (no lexicon files) there is none, with a warning."""
    spec, f = config.features.phonetic, config.features
    if spec is None:
        return None
    if data_dir is None:
        log.warning("No data directory: features.phonetic skipped (the lexicons live in the corpora folder).")
        return None
    terms = [
        t
        for c in taxonomy.categories
        if c.key in spec.categories
        for name, files in c.lexicons.items()
        for t in read_lexicon(name, files, data_dir)
    ]
    if not terms:
        raise DataError(f"features.phonetic.categories {spec.categories} have no lexicons in the taxonomy")

    def normalize(text: str) -> str:
        return normalize_text(text, f.max_chars, f.deobfuscate)

    ordinary = [normalize(t) for t in unlabeled] if unlabeled is not None else []
    if not ordinary:
        log.warning("features.phonetic without data.unlabeled_archive: only jieba's dictionary protects ordinary words")
    dictionary = tokenizer_for(config, None).dictionary_frequencies()
    mapped = PhoneticMap.build(terms, ordinary, dictionary, normalize, max_ordinary_hits=spec.max_ordinary_hits)
    log.info(
        "phonetic map: %d Latin and %d homophone forms of %d lexicon terms",
        len(mapped.latin),
        len(mapped.keys),
        len(mapped.terms),
    )
    return mapped


def build_classifier(
    config: TrainConfig, taxonomy, unlabeled: list[str] | None = None, phonetic: PhoneticMap | None = None
) -> MultiCategoryClassifier:
    """Without `unlabeled` texts, self-training, topics and archive words are left out."""
    self_training = unlabeled is not None
    f = config.features
    settings = FeatureSettings(
        word_ngrams=f.word_ngrams,
        char_ngrams=f.char_ngrams,
        min_df=f.min_df,
        max_word_features=f.max_word_features,
        max_char_features=f.max_char_features,
        sublinear_tf=f.sublinear_tf,
        max_chars=f.max_chars,
        deobfuscate=f.deobfuscate,
    )
    m = config.model
    return MultiCategoryClassifier(
        build_vectorizer(settings, tokenizer_for(config, unlabeled), phonetic),
        taxonomy.keys,
        C=m.C,
        class_weight=m.class_weight,
        cv_folds=m.cv_folds,
        min_positives=m.min_positives,
        threshold_rules=config.thresholds.rules(),
        default_profile=config.thresholds.default,
        nb_weighting=m.nb_weighting,
        category_params={
            key: {k: v for k, v in spec.classifier_params().items() if self_training or k not in UNLABELED_USERS}
            for key, spec in m.categories.items()
        },
        max_iter=m.max_iter,
        n_jobs=m.n_jobs,
        random_state=config.seed,
        default_kind=m.default_kind,
        category_kinds={c.key: list(c.kinds) for c in taxonomy.categories},
    )


def build_streaming_classifier(
    config: TrainConfig, taxonomy, phonetic: PhoneticMap | None = None
) -> StreamingClassifier:
    f, st = config.features, config.streaming
    return StreamingClassifier(
        taxonomy.keys,
        n_features=st.n_features,
        word_ngrams=f.word_ngrams,
        char_ngrams=f.char_ngrams,
        alpha=st.alpha,
        epochs=st.epochs,
        validation_fraction=st.validation_fraction,
        min_positives=config.model.min_positives,
        threshold_rules=config.thresholds.rules(),
        default_profile=config.thresholds.default,
        tokenizer=tokenizer_for(config, None),
        max_chars=f.max_chars,
        deobfuscate=f.deobfuscate,
        phonetic=phonetic,
        random_state=config.seed,
    )


def stream_chunks(config: TrainConfig, taxonomy, fit_rows: pd.DataFrame, streamed: dict[str, dict]):
    """A factory of fresh chunk iterators for StreamingClassifier.fit_stream. Streamed
    files are read chunk by chunk on every pass (never whole); each one's row count and
    SHA-256 go into `streamed` for the run's data fingerprint."""
    st, keys = config.streaming, taxonomy.keys
    fit_splits = set(config.data.fit_splits)
    if not st.files:
        order = np.random.default_rng(config.seed).permutation(len(fit_rows))
        rows = fit_rows.iloc[order][["text", *keys]].astype({k: float for k in keys})
        return lambda: (rows.iloc[i : i + st.chunk_rows] for i in range(0, len(rows), st.chunk_rows))
    for spec in st.files:
        streamed[f"stream:{spec.source or Path(spec.path).stem}"] = {"rows": None, "sha256": file_sha256(spec.path)}

    def chunks():
        for spec in st.files:
            n = 0
            for chunk in iter_labeled_file(
                spec.path, taxonomy, st.chunk_rows, source=spec.source, text_column=spec.text_column
            ):
                chunk = chunk[chunk["split"].isna() | chunk["split"].isin(fit_splits)]
                n += len(chunk)
                yield chunk[["text", *keys]].astype({k: float for k in keys})
            streamed[f"stream:{spec.source or Path(spec.path).stem}"]["rows"] = n

    return chunks


def stage_code(target: Path) -> Path:
    """Copy the layers a served model needs (data, features, models) into
    `target/qinglang`, so the MLflow model loads where qinglang is not installed."""
    root = target / "qinglang"
    for pkg in (qinglang.data, qinglang.features, qinglang.models):
        src = Path(pkg.__file__).parent
        shutil.copytree(src, root / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "demo"))
    return root


@dataclass(frozen=True)
class RunData:
    """The rows of one run: the assembled dataset, cut into the rows it fits on and the
    held-out rows it is evaluated on; `mode` says where they came from (corpora, files, demo)."""

    taxonomy: Taxonomy
    dataset: Dataset
    mode: str
    fit_rows: pd.DataFrame
    eval_rows: pd.DataFrame


@dataclass(frozen=True)
class FittedModel:
    """The fitted classifier with what its fit used and measured: the phonetic map (if
    any), the streamed files' rows and SHA-256 (for the data fingerprint), the fit time."""

    classifier: MultiCategoryClassifier | StreamingClassifier
    phonetic: PhoneticMap | None
    streamed: dict[str, dict]
    fit_seconds: float


@dataclass(frozen=True)
class HeldOutScores:
    """The model's probabilities for the evaluation rows and the keyword filter's 0/1/NaN
    matches (None without lexicons, `baseline_note` saying why)."""

    scores: np.ndarray
    baseline: np.ndarray | None
    baseline_note: str
    char_comparison: pd.DataFrame | None = None  # the model vs a char n-gram baseline on trending titles
    char_note: str = ""


@dataclass(frozen=True)
class RunRecord:
    """What the steps inside one MLflow run share: the config, data and fitted model, the
    run's identity and provenance, and the folder whose files get logged."""

    config: TrainConfig
    data_dir: Path | None
    data: RunData
    fitted: FittedModel
    run_id: str
    trained_at: str
    provenance: dict[str, str]
    fingerprint: dict[str, dict]
    run_dir: Path
    release: FittedModel | None = None  # refitted on data.release_splits: the model that ships

    @property
    def shipped(self) -> FittedModel:
        return self.release or self.fitted


def assemble_run(config: TrainConfig, data_dir: Path | None) -> RunData:
    """Check the config against the taxonomy, assemble the data and cut it into fit and
    evaluation rows; a run needs both."""
    taxonomy = load_taxonomy(config.taxonomy)
    check_category_settings(config, taxonomy.keys)
    dataset, mode = assemble(config, data_dir, taxonomy)
    table = dataset.table
    fit_rows = table[table["split"].isin(config.data.fit_splits)]
    eval_rows = table[table["split"].isin(config.data.eval_splits)].reset_index(drop=True)
    if fit_rows.empty or eval_rows.empty:
        raise DataError(
            f"{len(fit_rows)} rows in fit splits {config.data.fit_splits} and {len(eval_rows)} in evaluation splits "
            f"{config.data.eval_splits}: a run needs both"
        )
    log.info(
        "fitting on %d rows (%s), evaluating on %d rows (%s)",
        len(fit_rows),
        config.data.fit_splits,
        len(eval_rows),
        config.data.eval_splits,
    )
    return RunData(taxonomy, dataset, mode, fit_rows, eval_rows)


def fit_model(config: TrainConfig, data_dir: Path | None, data: RunData, release: bool = False) -> FittedModel:
    """Build the classifier the config asks for (in memory or streaming) and fit it;
    `release`: the refit on release_splits (weak labels of every date)."""
    fit_started = time.perf_counter()
    taxonomy, fit_rows = data.taxonomy, data.fit_rows
    unlabeled = unlabeled_texts(config, data_dir, data.dataset.table)
    phonetic = phonetic_map(config, taxonomy, data_dir, unlabeled)
    streamed: dict[str, dict] = {}
    if config.streaming is None:
        classifier = build_classifier(config, taxonomy, unlabeled, phonetic)
        labels = fit_labels(fit_rows, taxonomy.keys, config)
        kinds, weights = fit_rows["kind"].to_numpy(), source_weights(config, fit_rows)
        weak, entry = weak_rows(config, data_dir, data, release)
        streamed.update(entry)
        classifier.fit(fit_rows["text"], labels, unlabeled=unlabeled, kinds=kinds, sample_weight=weights, weak=weak)
    else:
        classifier = build_streaming_classifier(config, taxonomy, phonetic)
        classifier.fit_stream(stream_chunks(config, taxonomy, fit_rows, streamed))
    return FittedModel(classifier, phonetic, streamed, time.perf_counter() - fit_started)


def fit_release(config: TrainConfig, data_dir: Path | None, data: RunData) -> FittedModel | None:
    """The model to ship, refitted on every labeled row of `data.release_splits` with
    thresholds from its own out-of-fold scores; None when the config ships the model that
    was fitted on fit_splits (and evaluated on the others)."""
    splits = config.data.release_splits
    if not splits or set(splits) == set(config.data.fit_splits):
        return None
    table = data.dataset.table
    rows = table[table["split"].isin(splits)]
    log.info(
        "release: refitting on %d rows (%s) after evaluating the model fitted on %s",
        len(rows),
        splits,
        config.data.fit_splits,
    )
    return fit_model(config, data_dir, replace(data, fit_rows=rows), release=True)


def release_metrics(config: TrainConfig, data: RunData, release: FittedModel | None) -> dict[str, float]:
    """The released model on the held-out splits it has not seen either (test), as
    `release.`-prefixed MLflow metrics; empty without a release refit."""
    if release is None:
        return {}
    rows = data.eval_rows[~data.eval_rows["split"].isin(config.data.release_splits)]
    if rows.empty:
        return {}
    clf, kinds = release.classifier, row_kinds(rows)
    scores = clf.predict_proba(rows["text"], kinds)
    splits = sorted(rows["split"].unique())
    results = evaluate_table(rows, scores, clf.flags(scores, None, kinds), clf.categories_, clf.trained_, splits)
    return {f"release.{k}": v for k, v in metrics_for_mlflow(results).items()}


def score_held_out(data: RunData, fitted: FittedModel, data_dir: Path | None) -> HeldOutScores:
    """The model's and the keyword filter's scores for the evaluation rows."""
    texts = data.eval_rows["text"]
    scores = fitted.classifier.predict_proba(texts, row_kinds(data.eval_rows))
    baseline, baseline_note = keyword_baseline(data.taxonomy, data_dir, texts)
    flags = fitted.classifier.flags(scores, None, row_kinds(data.eval_rows))
    keys = data.taxonomy.keys
    comparison, char_note = char_baseline_comparison(data.fit_rows, data.eval_rows, (scores, flags), keys)
    return HeldOutScores(scores, baseline, baseline_note, comparison, char_note)


def save_bundle(run: RunRecord) -> tuple[ModelBundle, Path]:
    """The shipped model's bundle with the run's metadata, saved under the run folder. With
    a release refit, the evaluated model is also kept (`selection_bundle/`, not logged): it
    is the one to score the held-out splits the release saw."""
    config = run.config
    data_config = config.data.model_dump(mode="json")
    if run.release is not None:  # what `qinglang evaluate` may still hold out for the shipped model
        selection = ModelBundle(run.fitted.classifier, run.data.taxonomy, _bundle_metadata(run, dict(data_config)))
        selection.save(run.run_dir / "selection_bundle")
        data_config["selection_fit_splits"] = data_config["fit_splits"]
        data_config["fit_splits"] = list(config.data.release_splits)
        data_config["eval_splits"] = [s for s in config.data.eval_splits if s not in config.data.release_splits]
    bundle = ModelBundle(run.shipped.classifier, run.data.taxonomy, _bundle_metadata(run, data_config))
    return bundle, bundle.save(run.run_dir / "bundle")


def _bundle_metadata(run: RunRecord, data_config: dict) -> dict:
    return {
        "model_name": run.config.mlflow.registered_model,
        "run_id": run.run_id,
        "trained_at": run.trained_at,
        "data_mode": run.data.mode,
        "data_sha256": run.fingerprint["__all__"]["sha256"],
        "data_config": data_config,
        **run.provenance,
    }


def _write_json(path: Path, value, ensure_ascii: bool = False) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=ensure_ascii), "utf-8")


def write_run_files(run: RunRecord) -> pd.DataFrame:
    """Config, taxonomy, data fingerprint and report, fit summary and label coverage into
    the run folder. Returns the label coverage, which the report shows."""
    run_dir, dataset = run.run_dir, run.data.dataset
    (run_dir / "config.yaml").write_text(
        yaml.safe_dump(run.config.model_dump(mode="json"), allow_unicode=True, sort_keys=False), "utf-8"
    )
    (run_dir / "taxonomy.yaml").write_text(
        yaml.safe_dump(run.data.taxonomy.to_dict(), allow_unicode=True, sort_keys=False), "utf-8"
    )
    _write_json(run_dir / "data_fingerprint.json", run.fingerprint, ensure_ascii=True)
    _write_json(run_dir / "data_report.json", dataset.report())
    _write_json(run_dir / "fit_summary.json", run.fitted.classifier.fit_summary())
    if run.release is not None:
        _write_json(run_dir / "release_fit_summary.json", run.release.classifier.fit_summary())
    coverage = dataset.coverage(run.data.taxonomy.keys)
    coverage.to_csv(run_dir / "label_coverage.csv", index=False)
    return coverage


def record_phonetic_map(run: RunRecord) -> None:
    """What normalisation rewrites, for review: the map as a file, its sizes as params."""
    phonetic = run.shipped.phonetic
    if phonetic is None:
        return
    _write_json(run.run_dir / "phonetic_map.json", phonetic.describe())
    mlflow.log_params(
        {
            "phonetic.terms": len(phonetic.terms),
            "phonetic.latin_forms": len(phonetic.latin),
            "phonetic.homophone_keys": len(phonetic.keys),
            "phonetic.protected": len(phonetic.protected),
        }
    )


def report_header(run: RunRecord) -> dict[str, str]:
    config, provenance = run.config, run.provenance
    return {
        "run": run.run_id,
        "data": "ILLUSTRATIVE DEMO SET (metrics mean nothing)"
        if run.data.mode == "demo"
        else f"corpora from {run.data_dir}",
        "code": f"{provenance['git_commit']} (dirty: {provenance['git_dirty']})",
        "trained at": run.trained_at,
        "fit splits": ", ".join(config.data.fit_splits),
        "evaluation splits": ", ".join(config.data.eval_splits),
        **(
            {
                "released model": f"refitted on {', '.join(config.data.release_splits)} after this evaluation, "
                "thresholds from its own out-of-fold scores; the figures below are the model fitted on "
                f"{', '.join(config.data.fit_splits)} (MLflow `release.*` metrics: the released model on the splits "
                "neither saw)"
            }
            if run.release is not None
            else {}
        ),
    }


def write_report(run: RunRecord, held_out: HeldOutScores, coverage: pd.DataFrame) -> Evaluation:
    """The evaluation report on the held-out rows, with the training data and fits sections."""
    data, classifier = run.data, run.fitted.classifier
    inputs = EvaluationInputs(
        table=data.eval_rows,
        scores=held_out.scores,
        classifier=classifier,
        taxonomy=data.taxonomy,
        splits=run.config.data.eval_splits,
        baseline=held_out.baseline,
        baseline_note=held_out.baseline_note,
        title="qinglang training report",
        header=report_header(run),
        extra_sections=[
            *char_baseline_section(held_out.char_comparison, held_out.char_note),
            *training_sections(taxonomy=data.taxonomy, dataset=data.dataset, coverage=coverage, classifier=classifier),
        ],
    )
    return write_evaluation(run.run_dir, inputs)


def log_char_baseline(comparison: pd.DataFrame | None) -> None:
    """`char_baseline.<category>.average_precision` and the model's delta over it, on trending titles."""
    if comparison is None:
        return
    metrics = {}
    for r in comparison.to_dict("records"):
        for name in ("baseline_average_precision", "delta_average_precision"):
            if np.isfinite(r[name]):
                metrics[f"char_baseline.{r['category']}.{name.removeprefix('baseline_')}"] = float(r[name])
    mlflow.log_metrics(metrics)


def log_category_fits(classifier: MultiCategoryClassifier | StreamingClassifier) -> None:
    """Per category: trained or why not as a tag; validation figures and threshold as metrics."""
    for key, fit in classifier.category_fits_.items():
        mlflow.set_tag(f"category.{key}", "trained" if fit.trained else f"not trained: {fit.reason}")
        if fit.trained:
            mlflow.log_metrics(
                {f"validation.{key}.{m}": getattr(fit, f"validation_{m}") for m in ("precision", "recall", "f1", "ap")}
            )
            mlflow.log_metric(f"threshold.{key}", fit.threshold)


def log_run(run: RunRecord, evaluation: Evaluation) -> None:
    """Params, data fingerprint, per-category fits, held-out metrics and every file of the run folder."""
    mlflow.log_params(run.config.flat())
    mlflow.log_params({f"data.rows.{s}": v["rows"] for s, v in run.fingerprint.items()})
    mlflow.set_tag("data.sha256", run.fingerprint["__all__"]["sha256"])
    log_category_fits(run.fitted.classifier)
    mlflow.log_metrics(metrics_for_mlflow(evaluation.results))
    if evaluation.baseline_results is not None:
        mlflow.log_metrics(
            {f"keyword_baseline.{k}": v for k, v in metrics_for_mlflow(evaluation.baseline_results).items()}
        )
    mlflow.log_metric("fit_seconds", run.fitted.fit_seconds)
    if run.release is not None:
        rows = int(run.data.dataset.table["split"].isin(run.config.data.release_splits).sum())
        mlflow.log_params({"release.fit_splits": ",".join(run.config.data.release_splits), "release.rows": rows})
        mlflow.log_metric("release_fit_seconds", run.release.fit_seconds)
        mlflow.log_metrics(release_metrics(run.config, run.data, run.release))
    for path in sorted(run.run_dir.iterdir()):
        if path.is_file():
            mlflow.log_artifact(str(path), artifact_path="report" if path.suffix in (".md", ".png") else "evaluation")


def log_model(run: RunRecord, bundle: ModelBundle, bundle_path: Path, register: bool) -> ModelInfo:
    """The bundle as an MLflow pyfunc model with qinglang's code, registered if asked."""
    example = pd.DataFrame({"text": INPUT_EXAMPLE})
    with tempfile.TemporaryDirectory() as code_dir:
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=QinglangPyfunc(),
            artifacts={ARTIFACT_KEY: str(bundle_path)},
            code_paths=[str(stage_code(Path(code_dir)))],
            signature=infer_signature(
                example,
                bundle.score_frame(INPUT_EXAMPLE),
                params={"profile": bundle.classifier.default_profile_, "kind": bundle.default_kind},
            ),
            input_example=example,
            model_config={CHECKSUM_KEY: file_sha256(bundle_path)},  # verified before unpickling at load
            pip_requirements=runtime_requirements(),
            registered_model_name=run.config.mlflow.registered_model if register else None,
        )


def point_alias(run: RunRecord, info: ModelInfo, register: bool) -> str | None:
    """Point the configured alias at the registered version and tag it; the version, if any."""
    if not register or info.registered_model_version is None:
        return None
    name, version = run.config.mlflow.registered_model, str(info.registered_model_version)
    client = MlflowClient()
    client.set_registered_model_alias(name, run.config.mlflow.alias, version)
    client.set_model_version_tag(name, version, "data_mode", run.data.mode)
    client.set_model_version_tag(name, version, "git_commit", run.provenance["git_commit"])
    digest = (info.flavors.get("python_function", {}).get("model_config") or {}).get(CHECKSUM_KEY)
    if digest:
        client.set_model_version_tag(name, version, CHECKSUM_KEY, digest)
    return version


def keep_outputs(run_dir: Path, out_dir: Path | None) -> Path:
    """Move the run folder's files to `out_dir` when one is given; where they now are."""
    if out_dir is None:
        return run_dir
    shutil.copytree(run_dir, out_dir, dirs_exist_ok=True)
    shutil.rmtree(run_dir)
    as_umask_allows(out_dir)  # copytree copied mkdtemp's private 0700: the output gets what the umask allows
    return Path(out_dir)


class _Stages:
    """'[2/5] fitting ... (41 s so far)': a training run says where it is (it takes minutes)."""

    NAMES = (
        "reading the data",
        "fitting the model evaluated on held-out rows",
        "scoring the held-out rows",
        "refitting for release on every labeled split",
        "writing the report and logging to MLflow",
    )

    def __init__(self) -> None:
        self.started, self.done = time.perf_counter(), 0

    def next(self) -> None:
        log.info("[%d/%d] %s (%.0f s so far)", self.done + 1, len(self.NAMES), self.NAMES[self.done], self.elapsed)
        self.done += 1

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def train(
    config: TrainConfig, data_dir: Path | None, out_dir: Path | None = None, register: bool = True
) -> TrainResult:
    stages = _Stages()
    stages.next()
    data = assemble_run(config, data_dir)
    stages.next()
    fitted = fit_model(config, data_dir, data)
    stages.next()
    held_out = score_held_out(data, fitted, data_dir)
    stages.next()
    release = fit_release(config, data_dir, data)
    stages.next()

    fingerprint = {**data.dataset.fingerprint(data.taxonomy.keys), **fitted.streamed}
    provenance = {**git_state(), **environment()}
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_dir = Path(tempfile.mkdtemp(prefix="qinglang-run-"))  # only this run's files get logged

    log.info("MLflow store: %s (set MLFLOW_TRACKING_URI to use another)", configure_tracking(create=True))
    use_experiment(config.mlflow.experiment)
    with mlflow.start_run(tags={"data_mode": data.mode, **provenance}) as active:
        run = RunRecord(
            config, data_dir, data, fitted, active.info.run_id, trained_at, provenance, fingerprint, run_dir, release
        )
        bundle, bundle_path = save_bundle(run)
        coverage = write_run_files(run)
        record_phonetic_map(run)
        evaluation = write_report(run, held_out, coverage)
        log_run(run, evaluation)
        log_char_baseline(held_out.char_comparison)
        info = log_model(run, bundle, bundle_path, register)
        version = point_alias(run, info, register)
        mlflow.log_metric("total_seconds", stages.elapsed)
    log.info("done in %.0f s: run %s", stages.elapsed, run.run_id)
    return TrainResult(
        run.run_id, info.model_uri, version, evaluation.results, keep_outputs(run_dir, out_dir), bundle, data.dataset
    )
