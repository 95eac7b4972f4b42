"""One training run, end to end: assemble data, fit, evaluate on held-out splits, write
the report, and log everything to MLflow with the model registered under an alias."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.models import infer_signature

import qinglang.data
import qinglang.features
import qinglang.models
from qinglang.data.dataset import Dataset, FileSource, build_dataset, sample_rows
from qinglang.data.errors import DataError
from qinglang.data.loaders import ARCHIVE_FOLDER, load_trending_archive
from qinglang.data.loaders.lexicons import read_lexicon
from qinglang.data.loaders.tabular import iter_labeled_file
from qinglang.data.taxonomy import load_taxonomy
from qinglang.features.new_words import mine_new_words
from qinglang.features.normalize import normalize_text
from qinglang.features.phonetic import PhoneticMap
from qinglang.features.tokenizer import JiebaTokenizer
from qinglang.features.vectorizer import FeatureSettings, build_vectorizer
from qinglang.models.bundle import ModelBundle
from qinglang.models.multilabel import MultiCategoryClassifier
from qinglang.models.pyfunc import ARTIFACT_KEY, QinglangPyfunc
from qinglang.models.registry import configure_tracking
from qinglang.models.streaming import StreamingClassifier
from qinglang.training.baseline import keyword_baseline
from qinglang.training.config import TrainConfig
from qinglang.training.metrics import metrics_for_mlflow
from qinglang.training.reports.report import training_sections, write_evaluation
from qinglang.training.tracking import environment, git_state, runtime_requirements

log = logging.getLogger("qinglang.train")
DEMO_FILE = "demo/demo.csv"
INPUT_EXAMPLE = ["某顶流明星机场私服曝光", "明天全国大部分地区有雨"]


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
    files = [FileSource(f.path, f.source, f.text_column) for f in config.data.files]
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
        dev_fraction=config.data.dev_fraction,
        test_fraction=config.data.test_fraction,
        max_rows_per_source=config.data.max_rows_per_source,
    )
    return dataset, mode


def check_category_settings(config: TrainConfig, keys: list[str]) -> None:
    unknown = sorted(set(config.model.categories) - set(keys))
    if unknown:
        raise DataError(f"model.categories names {unknown}, which the taxonomy does not have; its categories: {keys}")
    wanting = sorted(k for k, spec in config.model.categories.items() if spec.self_training)
    if wanting and config.data.unlabeled_archive is None:
        raise DataError(f"model.categories {wanting} ask for self_training, which needs data.unlabeled_archive")
    if config.features.archive_words and config.data.unlabeled_archive is None:
        raise DataError("features.archive_words needs data.unlabeled_archive")
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
    users = f.archive_words or f.phonetic or any(c.self_training for c in config.model.categories.values())
    if spec is None or not users:
        return None
    if data_dir is None:
        log.warning(
            "No data directory: self-training, archive words and the phonetic map skipped (they read the corpora folder)."
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


def tokenizer_for(config: TrainConfig, unlabeled: list[str] | None) -> JiebaTokenizer:
    """jieba with the configured user dictionary plus, if asked, words mined from the archive."""
    f = config.features
    tokenizer = JiebaTokenizer.from_user_dict(f.user_dict, hmm=f.hmm)
    if f.archive_words is None or unlabeled is None:
        return tokenizer
    mined = mine_new_words(
        [normalize_text(t, f.max_chars, f.deobfuscate) for t in unlabeled],
        known=tokenizer.dictionary_words(),
        min_count=f.archive_words.min_count,
        max_words=f.archive_words.max_words,
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
    """Without `unlabeled` texts, self-training settings and archive words are left out."""
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
            key: {k: v for k, v in spec.classifier_params().items() if self_training or k != "self_training"}
            for key, spec in m.categories.items()
        },
        max_iter=m.max_iter,
        n_jobs=m.n_jobs,
        random_state=config.seed,
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


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_code(target: Path) -> Path:
    """Copy the layers a served model needs (data, features, models) into
    `target/qinglang`, so the MLflow model loads where qinglang is not installed."""
    root = target / "qinglang"
    for pkg in (qinglang.data, qinglang.features, qinglang.models):
        src = Path(pkg.__file__).parent
        shutil.copytree(src, root / src.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "demo"))
    return root


def train(
    config: TrainConfig, data_dir: Path | None, out_dir: Path | None = None, register: bool = True
) -> TrainResult:
    started = time.perf_counter()
    taxonomy = load_taxonomy(config.taxonomy)
    check_category_settings(config, taxonomy.keys)
    dataset, mode = assemble(config, data_dir, taxonomy)
    table, keys = dataset.table, taxonomy.keys
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

    fit_started = time.perf_counter()
    unlabeled = unlabeled_texts(config, data_dir, table)
    phonetic = phonetic_map(config, taxonomy, data_dir, unlabeled)
    streamed: dict[str, dict] = {}
    if config.streaming is None:
        classifier = build_classifier(config, taxonomy, unlabeled, phonetic)
        classifier.fit(fit_rows["text"], fit_labels(fit_rows, keys, config), unlabeled=unlabeled)
    else:
        classifier = build_streaming_classifier(config, taxonomy, phonetic)
        classifier.fit_stream(stream_chunks(config, taxonomy, fit_rows, streamed))
    fit_seconds = time.perf_counter() - fit_started
    scores = classifier.predict_proba(eval_rows["text"])
    baseline, baseline_note = keyword_baseline(taxonomy, data_dir, eval_rows["text"])

    fingerprint = {**dataset.fingerprint(keys), **streamed}
    provenance = {**git_state(), **environment()}
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    run_dir = Path(tempfile.mkdtemp(prefix="qinglang-run-"))  # only this run's files get logged

    configure_tracking()
    mlflow.set_experiment(config.mlflow.experiment)
    with mlflow.start_run(tags={"data_mode": mode, **provenance}) as run:
        bundle = ModelBundle(
            classifier,
            taxonomy,
            {
                "model_name": config.mlflow.registered_model,
                "run_id": run.info.run_id,
                "trained_at": trained_at,
                "data_mode": mode,
                "data_sha256": fingerprint["__all__"]["sha256"],
                "data_config": config.data.model_dump(mode="json"),
                **provenance,
            },
        )
        bundle_path = bundle.save(run_dir / "bundle")
        (run_dir / "config.yaml").write_text(
            yaml.safe_dump(config.model_dump(mode="json"), allow_unicode=True, sort_keys=False), "utf-8"
        )
        (run_dir / "taxonomy.yaml").write_text(
            yaml.safe_dump(taxonomy.to_dict(), allow_unicode=True, sort_keys=False), "utf-8"
        )
        (run_dir / "data_fingerprint.json").write_text(json.dumps(fingerprint, indent=2), "utf-8")
        (run_dir / "data_report.json").write_text(json.dumps(dataset.report(), indent=2, ensure_ascii=False), "utf-8")
        (run_dir / "fit_summary.json").write_text(
            json.dumps(classifier.fit_summary(), indent=2, ensure_ascii=False), "utf-8"
        )
        coverage = dataset.coverage(keys)
        coverage.to_csv(run_dir / "label_coverage.csv", index=False)
        if phonetic is not None:  # what normalisation rewrites, for review
            (run_dir / "phonetic_map.json").write_text(
                json.dumps(phonetic.describe(), indent=2, ensure_ascii=False), "utf-8"
            )
            mlflow.log_params(
                {
                    "phonetic.terms": len(phonetic.terms),
                    "phonetic.latin_forms": len(phonetic.latin),
                    "phonetic.homophone_keys": len(phonetic.keys),
                    "phonetic.protected": len(phonetic.protected),
                }
            )
        evaluation = write_evaluation(
            run_dir,
            table=eval_rows,
            scores=scores,
            classifier=classifier,
            taxonomy=taxonomy,
            splits=config.data.eval_splits,
            baseline=baseline,
            baseline_note=baseline_note,
            title="qinglang training report",
            header={
                "run": run.info.run_id,
                "data": "ILLUSTRATIVE DEMO SET (metrics mean nothing)"
                if mode == "demo"
                else f"corpora from {data_dir}",
                "code": f"{provenance['git_commit']} (dirty: {provenance['git_dirty']})",
                "trained at": trained_at,
                "fit splits": ", ".join(config.data.fit_splits),
                "evaluation splits": ", ".join(config.data.eval_splits),
            },
            extra_sections=training_sections(
                taxonomy=taxonomy, dataset=dataset, coverage=coverage, classifier=classifier
            ),
        )
        results = evaluation.results

        mlflow.log_params(config.flat())
        mlflow.log_params({f"data.rows.{s}": v["rows"] for s, v in fingerprint.items()})
        mlflow.set_tag("data.sha256", fingerprint["__all__"]["sha256"])
        for key, fit in classifier.category_fits_.items():
            mlflow.set_tag(f"category.{key}", "trained" if fit.trained else f"not trained: {fit.reason}")
            if fit.trained:
                mlflow.log_metrics(
                    {
                        f"validation.{key}.{m}": getattr(fit, f"validation_{m}")
                        for m in ("precision", "recall", "f1", "ap")
                    }
                )
                mlflow.log_metric(f"threshold.{key}", fit.threshold)
        mlflow.log_metrics(metrics_for_mlflow(results))
        if evaluation.baseline_results is not None:
            mlflow.log_metrics(
                {f"keyword_baseline.{k}": v for k, v in metrics_for_mlflow(evaluation.baseline_results).items()}
            )
        mlflow.log_metric("fit_seconds", fit_seconds)
        for path in sorted(run_dir.iterdir()):
            if path.is_file():
                mlflow.log_artifact(
                    str(path), artifact_path="report" if path.suffix in (".md", ".png") else "evaluation"
                )

        example = pd.DataFrame({"text": INPUT_EXAMPLE})
        with tempfile.TemporaryDirectory() as code_dir:
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=QinglangPyfunc(),
                artifacts={ARTIFACT_KEY: str(bundle_path)},
                code_paths=[str(stage_code(Path(code_dir)))],
                signature=infer_signature(
                    example, bundle.score_frame(INPUT_EXAMPLE), params={"profile": bundle.classifier.default_profile_}
                ),
                input_example=example,
                pip_requirements=runtime_requirements(),
                registered_model_name=config.mlflow.registered_model if register else None,
            )
        version = None
        if register and info.registered_model_version is not None:
            version = str(info.registered_model_version)
            client = MlflowClient()
            client.set_registered_model_alias(config.mlflow.registered_model, config.mlflow.alias, version)
            client.set_model_version_tag(config.mlflow.registered_model, version, "data_mode", mode)
            client.set_model_version_tag(
                config.mlflow.registered_model, version, "git_commit", provenance["git_commit"]
            )
        mlflow.log_metric("total_seconds", time.perf_counter() - started)
    if out_dir is not None:
        shutil.copytree(run_dir, out_dir, dirs_exist_ok=True)
        shutil.rmtree(run_dir)
        run_dir = Path(out_dir)
    return TrainResult(run.info.run_id, info.model_uri, version, results, run_dir, bundle, dataset)
