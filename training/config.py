"""The training config: one YAML file decides sources, features, model, thresholds and
seed. Validated on load so a typo fails with the field's name, before any work starts."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from qinglang.data.errors import DataError
from qinglang.data.loaders import REGISTRY
from qinglang.data.taxonomy import DEFAULT_KIND, KINDS
from qinglang.models.thresholds import DEFAULT_PROFILE, DEFAULT_PROFILES, TARGETED, ThresholdRule

DEFAULT_CONFIG = "default.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSpec(_Strict):
    path: Path
    source: str | None = None
    text_column: str = "text"
    kind: Literal[KINDS] | None = None  # of rows without a `kind` column (None: model.default_kind)


class UnlabeledArchive(_Strict):
    """Unlabeled text from the trending archive (`weibo_trending/raw` under the data
    directory), for self-training: titles first seen before `before`, minus every labeled
    text, so no title of a later dev or test period is ever read."""

    before: date


class WeakLabelRule(_Strict):
    """Tags that mark a category positive; `ignore`: tags that say nothing about it (the
    title is left unknown for it). Every other tag marks it negative."""

    positive: list[str] = Field(min_length=1)
    ignore: list[str] = Field(default_factory=list)


class WeakLabels(_Strict):
    """Weibo's own topic tag of each hot-search title (`weibo_hot_history/` under the data
    directory) as a weak label for some categories: those titles join the fit at `weight`,
    never calibration, thresholds or any metric. The model evaluated on held-out splits reads
    only rows dated before `before` (the labeled trending dev split starts 2024-07-01); the
    release refit reads every row. Titles that are labeled anywhere are left out."""

    weight: float = Field(0.3, gt=0, le=1)
    before: date
    categories: dict[str, WeakLabelRule] = Field(min_length=1)


class DataSection(_Strict):
    corpora: list[str] = Field(default_factory=lambda: list(REGISTRY))
    files: list[FileSpec] = Field(default_factory=list)
    fit_splits: list[Literal["train", "dev", "test"]] = Field(["train"], min_length=1)
    eval_splits: list[Literal["train", "dev", "test"]] = ["dev", "test"]
    dev_fraction: float = Field(0.1, ge=0, lt=1)
    test_fraction: float = Field(0.2, ge=0, lt=1)
    max_rows_per_source: int | None = Field(None, gt=0)
    unlabeled_archive: UnlabeledArchive | None = None
    # The model to ship is refitted on these splits once the one fitted on fit_splits has been
    # evaluated (thresholds from the refit's own out-of-fold scores). None: ship that model.
    release_splits: list[Literal["train", "dev"]] | None = None
    weak_labels: WeakLabels | None = None
    # Favour your own domain: each row of a named source counts this many times in every fit
    # (e.g. {inhouse: 5.0}); unnamed sources count once.
    source_weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("source_weights")
    @classmethod
    def _positive_weights(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v > 0}
        if bad:
            raise ValueError(f"source weights must be positive, got {bad}")
        return value

    @field_validator("corpora")
    @classmethod
    def _known_corpora(cls, value: list[str]) -> list[str]:
        unknown = [c for c in value if c not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown corpora {unknown}; known: {sorted(REGISTRY)}")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> DataSection:
        if set(self.fit_splits) & set(self.eval_splits):
            raise ValueError(
                f"fit_splits {self.fit_splits} and eval_splits {self.eval_splits} overlap: a model may not be evaluated on data it was fitted on"
            )
        if self.release_splits is not None and not set(self.fit_splits) <= set(self.release_splits):
            raise ValueError(f"release_splits {self.release_splits} must include every fit split {self.fit_splits}")
        if self.dev_fraction + self.test_fraction >= 1:
            raise ValueError("dev_fraction + test_fraction must be below 1")
        return self


class ArchiveWords(_Strict):
    """Add words mined from data.unlabeled_archive to the jieba dictionary (names, shows,
    memes jieba cuts into characters); see qinglang.features.new_words."""

    min_count: int = Field(20, ge=2)
    max_words: int = Field(20_000, gt=0)


class PhoneticSpec(_Strict):
    """Undo pinyin and homophone spellings of the terms in these categories' taxonomy
    lexicons (qinglang.features.phonetic); a Latin form seen as a word in more than
    `max_ordinary_hits` unlabeled archive titles is left alone."""

    categories: list[str] = Field(min_length=1)
    max_ordinary_hits: int = Field(2, ge=0)


class FeatureSection(_Strict):
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    min_df: int = Field(2, ge=1)
    max_word_features: int | None = Field(200_000, gt=0)
    max_char_features: int | None = Field(300_000, gt=0)
    sublinear_tf: bool = True
    max_chars: int = Field(2000, gt=0)
    deobfuscate: bool = True
    user_dict: Path | None = None
    archive_words: ArchiveWords | None = None
    phonetic: PhoneticSpec | None = None
    hmm: bool = True


class SelfTrainingSpec(_Strict):
    n_positive: int = Field(5000, gt=0)
    weight: float = Field(0.3, gt=0, le=1)


class TopicsSpec(_Strict):
    """Latent topics of the word unigrams, learned from data.unlabeled_archive (LSA), added to
    a category's features (models.multilabel.TopicProjection)."""

    components: int = Field(200, ge=2)
    weight: float = Field(1.0, gt=0)


class CategoryModelSpec(_Strict):
    """Settings for one category that differ from the model section's; unset fields inherit.
    `fit_sources`: fit this category only on labels from these sources (the other sources'
    rows stay in its evaluation), for a source whose labels follow a different definition."""

    C: float | None = Field(None, gt=0)
    class_weight: Literal["balanced", "none"] | None = None
    nb_weighting: bool | None = None
    self_training: SelfTrainingSpec | None = None
    fit_sources: list[str] | None = Field(None, min_length=1)
    features: Literal["all", "word", "char"] | None = None  # fit on one feature block only
    topics: TopicsSpec | None = None  # plus word topics from the unlabeled archive

    @property
    def reads_unlabeled(self) -> bool:
        """Whether this category learns from data.unlabeled_archive (self-training, topics)."""
        return self.self_training is not None or self.topics is not None

    def classifier_params(self) -> dict[str, object]:
        given = (("C", self.C), ("nb_weighting", self.nb_weighting), ("features", self.features))
        out: dict[str, object] = {k: v for k, v in given if v is not None}
        if self.self_training is not None:
            out["self_training"] = self.self_training.model_dump()
        if self.topics is not None:
            out["topics"] = self.topics.model_dump()
        if self.class_weight is not None:
            out["class_weight"] = None if self.class_weight == "none" else self.class_weight
        return out


class ModelSection(_Strict):
    default_kind: Literal[KINDS] = DEFAULT_KIND  # what a text is when a caller does not say
    C: float = Field(4.0, gt=0)
    class_weight: Literal["balanced"] | None = "balanced"
    nb_weighting: bool = False
    categories: dict[str, CategoryModelSpec] = Field(default_factory=dict)
    cv_folds: int = Field(5, ge=2)
    min_positives: int = Field(10, ge=2)
    max_iter: int = Field(1000, gt=0)
    n_jobs: int | None = -1


class ProfileSpec(_Strict):
    strategy: Literal["f1", "macro_f1", "precision", "recall"] = "f1"
    target: float | None = Field(None, gt=0, le=1)
    unreachable: Literal["best_f1", "never"] = "best_f1"

    @model_validator(mode="after")
    def _target_when_needed(self) -> ProfileSpec:
        if self.strategy in TARGETED and self.target is None:
            raise ValueError(f"strategy {self.strategy!r} needs a target between 0 and 1")
        return self


def _default_profiles() -> dict[str, ProfileSpec]:
    """The shipped operating points (models/thresholds.py DEFAULT_PROFILES, their one home)."""
    return {
        name: ProfileSpec(strategy=rule.strategy, target=rule.target, unreachable=rule.unreachable)
        for name, rule in DEFAULT_PROFILES.items()
    }


class ThresholdSection(_Strict):
    """Named operating points, each chosen per category on out-of-fold validation scores;
    `default` is the one used when a caller names none."""

    default: str = DEFAULT_PROFILE
    profiles: dict[str, ProfileSpec] = Field(default_factory=_default_profiles, min_length=1)

    @model_validator(mode="after")
    def _default_exists(self) -> ThresholdSection:
        if self.default not in self.profiles:
            raise ValueError(f"default profile {self.default!r} is not among the profiles {sorted(self.profiles)}")
        return self

    def rules(self) -> dict[str, ThresholdRule]:
        return {name: ThresholdRule(p.strategy, p.target, p.unreachable) for name, p in self.profiles.items()}


class PromotionSection(_Strict):
    """The gate `qinglang promote` applies: no category may lose more than `tolerance` of
    `metric` against the champion on the same held-out rows (unless forced)."""

    metric: Literal["average_precision", "f1", "precision", "recall"] = "average_precision"
    tolerance: float = Field(0.01, ge=0, le=1)
    categories: list[str] | None = None


class MlflowSection(_Strict):
    experiment: str = "qinglang"
    registered_model: str = "qinglang"
    alias: str = "candidate"


class StreamingSection(_Strict):
    """Out-of-core training (qinglang.models.streaming): hashed features and SGD, chunk by
    chunk, so memory stays bounded whatever the data size. `files` (canonical labeled
    files, rows of the fit splits or without a split) are streamed for fitting; without
    them the run's fit rows are streamed, shuffled once. Held-out rows still come from
    the data section."""

    files: list[FileSpec] = Field(default_factory=list)
    chunk_rows: int = Field(20_000, gt=0)
    n_features: int = Field(2**19, ge=2**10)
    alpha: float = Field(1e-5, gt=0)
    epochs: int = Field(2, ge=1)
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)


class TrainConfig(_Strict):
    seed: int = 0
    taxonomy: Path | None = None
    data: DataSection = DataSection()
    features: FeatureSection = FeatureSection()
    model: ModelSection = ModelSection()
    thresholds: ThresholdSection = ThresholdSection()
    mlflow: MlflowSection = MlflowSection()
    promotion: PromotionSection = PromotionSection()
    streaming: StreamingSection | None = None

    def flat(self) -> dict[str, str]:
        """Dotted parameters for MLflow (`model.C` = "4.0")."""
        out: dict[str, str] = {}

        def walk(prefix: str, value) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = str(value)

        walk("", self.model_dump(mode="json"))
        return out


def load_config(path: str | Path | None = None) -> TrainConfig:
    """Read a config file; with no path, the default shipped with the package."""
    if path is None:
        text, origin = (
            resources.files("qinglang.training").joinpath("configs", DEFAULT_CONFIG).read_text("utf-8"),
            DEFAULT_CONFIG,
        )
    else:
        p = Path(path)
        if not p.is_file():
            raise DataError("config file not found", file=str(p))
        text, origin = p.read_text("utf-8"), str(p)
    try:
        raw = yaml.safe_load(text) or {}
        return TrainConfig.model_validate(raw)
    except yaml.YAMLError as exc:
        raise DataError(f"not valid YAML: {exc}", file=origin) from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise DataError(f"invalid config: {problems}", file=origin) from exc
