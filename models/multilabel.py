"""One calibrated binary classifier per category, behind one scikit-learn estimator.

Each category is fitted only on rows where its label is known (NaN = unknown). For each,
out-of-fold decision scores from stratified cross-validation serve twice: to fit a Platt
(sigmoid) calibrator, and to choose the decision threshold. That uses every labeled row
for validation, which matters for categories with a few dozen positives. The final linear
model is refit on all known rows. Coefficients of all categories are stacked into one
matrix so prediction is one sparse product, whatever the number of categories.

Category names and thresholds are fitted attributes; `ModelBundle` pickles them with the
taxonomy, so a served model cannot disagree with the taxonomy it was trained on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.decomposition import TruncatedSVD
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from qinglang.data.taxonomy import DEFAULT_KIND, KINDS, check_kind
from qinglang.features.compiled import compile_features
from qinglang.features.normalize import as_text_list, has_content
from qinglang.models.kinds import KindFit, fit_kinds
from qinglang.models.thresholds import DEFAULT_PROFILE, ProfileSet, ThresholdRule, flags_at, operating_point

log = logging.getLogger("qinglang.models")
_ONE_BY_ONE_MAX_ROWS = 8  # up to this many texts, per-text products beat building a CSR matrix
_COMPILED = "_compiled_features"  # where the `_compiled` property keeps them (never pickled)
_UNSET = object()
_COMPILE_LOCK = threading.Lock()


def _share_phonetic_map(clf: MultiCategoryClassifier) -> None:
    """Make the unfitted template pipeline (`vectorizer`, the constructor parameter) use the
    fitted pipeline's PhoneticMap when the two hold the same forms. `clone` at training
    deep-copies it, so a model file holds the map twice: about 13 MB of the served process
    for a copy that scoring never reads. Only the template's reference changes."""
    template, fitted = getattr(clf, "vectorizer", None), getattr(clf, "vectorizer_", None)
    try:
        t_norm, f_norm = template.steps[0][1], fitted.steps[0][1]
        t_map, f_map = t_norm.phonetic, f_norm.phonetic
    except (AttributeError, IndexError, TypeError):
        return
    if t_map is not None and t_map is not f_map and getattr(f_map, "same_as", None) and f_map.same_as(t_map):
        t_norm.phonetic = f_map


@dataclass
class CategoryFit:
    """What fitting learned about one category, including why it was not trained."""

    key: str
    trained: bool
    n_known: int
    n_positive: int
    threshold: float | None = None
    threshold_rule_met: bool | None = None
    validation_ap: float | None = None
    validation_precision: float | None = None
    validation_recall: float | None = None
    validation_f1: float | None = None
    operating_points: dict[str, dict] = field(default_factory=dict)
    pseudo_labeled: dict[str, int] | None = None
    reason: str = ""
    kinds: dict[str, dict] = field(default_factory=dict)  # per kind: a KindFit as a dict (models.kinds)


class NBScaler(TransformerMixin, BaseEstimator):
    """Scales each feature by its naive-Bayes log-count ratio for one category (the NB part
    of NB-SVM, Wang & Manning 2012), so the linear model starts from per-feature evidence.
    The ratio counts documents containing the feature, as in the paper (on COLD dev this
    beat summing tf-idf weights). Fitted inside each cross-validation fold, so out-of-fold
    scores stay clean."""

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X, y):
        y = np.asarray(y)
        present = (X > 0).astype(np.float32)
        p = np.asarray(present[y == 1].sum(axis=0)).ravel() + self.alpha
        q = np.asarray(present[y == 0].sum(axis=0)).ravel() + self.alpha
        self.ratio_ = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
        return self

    def transform(self, X):
        return X.multiply(self.ratio_).tocsr()


class Shared:
    """Holds a large read-only object that `clone` and `deepcopy` must not copy (the
    unlabeled feature matrix, once per fold otherwise)."""

    def __init__(self, value) -> None:
        self.value = value

    def __deepcopy__(self, memo) -> Shared:
        return self


class SelfTrainedClassifier(ClassifierMixin, BaseEstimator):
    """Self-training on unlabeled rows (Yarowsky 1995): fit on the labeled rows, take the
    `n_positive` highest-scored unlabeled rows as positives and as many lowest-scored ones
    as keep the labeled class ratio as negatives, refit on both with the pseudo-labeled rows
    at `weight`. Helps a category with few labels whose signal (names, memes) recurs in
    unlabeled text. Inside cross-validation each fold picks its own pseudo-labels, so
    out-of-fold scores never see the held-out fold's labels."""

    def __init__(self, estimator, unlabeled: Shared, n_positive: int = 5000, weight: float = 0.3) -> None:
        self.estimator = estimator
        self.unlabeled = unlabeled
        self.n_positive = n_positive
        self.weight = weight

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y)
        U = self.unlabeled.value
        scores = clone(self.estimator).fit(X, y).decision_function(U)
        rate = float(y.mean())
        n_pos = min(self.n_positive, U.shape[0] // 2)
        n_neg = min(int(round(n_pos * (1 - rate) / rate)), U.shape[0] - n_pos)
        order = np.argsort(-scores, kind="stable")
        chosen = np.concatenate([order[:n_pos], order[len(order) - n_neg :]])
        X_all = sp.vstack([X, U[chosen]]).tocsr()
        y_all = np.concatenate([y, np.ones(n_pos, dtype=y.dtype), np.zeros(n_neg, dtype=y.dtype)])
        labeled = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        weights = np.concatenate([labeled, np.full(n_pos + n_neg, self.weight)])
        self.estimator_ = clone(self.estimator).fit(X_all, y_all, sample_weight=weights)
        self.classes_ = self.estimator_.classes_
        self.n_pseudo_ = (n_pos, n_neg)
        return self

    def decision_function(self, X):
        return self.estimator_.decision_function(X)

    def predict(self, X):
        return self.estimator_.predict(X)


@dataclass(frozen=True)
class TopicProjection:
    """Latent topics of the word unigrams (LSA, Deerwester et al. 1990) learned from unlabeled
    text, added to one category's own feature block: a category with a few hundred labeled
    positives (trivial) then also learns from words it never saw labeled, through the topics
    they share with words it did. The projection is linear, so `fold` turns the fitted
    weights back into ordinary per-feature coefficients: serving is unchanged."""

    own: slice  # the category's own feature block
    words: np.ndarray  # column indices of the word unigrams
    basis: Shared  # (len(words), k): the unlabeled pool's top right singular vectors
    weight: float  # scale of the topic columns against the own block's

    def features(self, X) -> sp.csr_matrix:
        topics = np.asarray(X[:, self.words] @ self.basis.value, dtype=np.float32) * self.weight
        return sp.hstack([X[:, self.own], sp.csr_matrix(topics)], format="csr")

    def fold(self, coef: np.ndarray, n_features: int) -> np.ndarray:
        """Coefficients over all `n_features` columns that score like `coef` over `features`."""
        n_own = self.own.stop - self.own.start
        out = np.zeros(n_features, dtype=np.float64)
        out[self.own] = coef[:n_own]
        out[self.words] += self.weight * (self.basis.value @ coef[n_own:])
        return out


def topic_basis(pool, words: np.ndarray, components: int, seed: int) -> Shared:
    """The top `components` right singular vectors of the unlabeled rows' word unigrams."""
    U = pool[:, words]
    k = min(components, U.shape[0] - 1, len(words) - 1)
    if k < 1:
        raise ValueError(f"topics need more unlabeled rows and words than {U.shape}")
    svd = TruncatedSVD(k, algorithm="randomized", n_iter=5, random_state=seed).fit(U)
    return Shared(svd.components_.T.astype(np.float32))


def too_few(key: str, n_pos: int, n_neg: int, need: int) -> CategoryFit:
    return CategoryFit(
        key,
        False,
        n_pos + n_neg,
        n_pos,
        reason=f"too few labeled examples: {n_pos} positive, {n_neg} negative (need {need} of each)",
    )


def calibrate(
    key: str, y: np.ndarray, z: np.ndarray, profiles: ProfileSet, n_known: int, n_positive: int
) -> tuple[float, float, CategoryFit]:
    """Platt calibration (a, b) of validation decision scores `z` against labels `y`, and the
    fit record with every operating point chosen on the calibrated scores."""
    platt = LogisticRegression(C=1e4, solver="lbfgs").fit(z.reshape(-1, 1), y)
    a, b = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    prob = 1.0 / (1.0 + np.exp(-(a * z + b)))
    points = {name: operating_point(y, prob, rule) for name, rule in profiles.rules.items()}
    threshold, met = points[profiles.default].threshold, points[profiles.default].reached
    flags = flags_at(prob, threshold)
    info = CategoryFit(
        key=key,
        trained=True,
        n_known=n_known,
        n_positive=n_positive,
        threshold=threshold,
        threshold_rule_met=met,
        validation_ap=float(average_precision_score(y, prob)),
        validation_precision=float(precision_score(y, flags, zero_division=0)),
        validation_recall=float(recall_score(y, flags)),
        validation_f1=float(f1_score(y, flags)),
        operating_points={name: asdict(p) for name, p in points.items()},
    )
    return a, b, info


@dataclass(frozen=True)
class WeakRows:
    """Rows with weak, noisy labels (e.g. Weibo's own topic tags for trending titles): they
    join the fit of the categories they are known for at `weight`, but never calibration or
    threshold choice, which use the real labels only. `Y`: (n, K) of 1 / 0 / NaN."""

    texts: list[str]
    Y: np.ndarray
    kind: str
    weight: float


@dataclass(frozen=True)
class _FitJob:
    """One category's fit: its settings (shared ones with its own overrides applied), the
    operating points to choose, and the unlabeled pool when it self-trains."""

    key: str
    C: float
    class_weight: str | None
    nb_weighting: bool
    self_training: Mapping[str, object] | None
    cv_folds: int
    profiles: ProfileSet
    seed: int
    max_iter: int
    unlabeled: object = None
    kinds: np.ndarray | None = None  # the kind of each labeled row: calibrate per kind
    min_positives: int = 10
    weights: np.ndarray | None = None  # per labeled row (data.source_weights); None: all 1
    trusted: np.ndarray | None = None  # rows whose labels calibrate (False: weak rows); None: all
    columns: slice | None = None  # the feature block this category is fitted on (None: every feature)
    topics: TopicProjection | None = None  # own block + topics of the words (`columns` is then None)


def _fit_one(X, y, job: _FitJob):
    n_features = X.shape[1]
    if job.columns is not None:
        X = X[:, job.columns]
    if job.topics is not None:
        X = job.topics.features(X)
    lr = LogisticRegression(
        C=job.C, class_weight=job.class_weight, solver="liblinear", max_iter=job.max_iter, random_state=job.seed
    )
    base = Pipeline([("nb", NBScaler()), ("lr", lr)]) if job.nb_weighting else lr
    if job.self_training:
        base = SelfTrainedClassifier(lr, job.unlabeled, **job.self_training)
    n_pos = int(y.sum())
    folds = StratifiedKFold(n_splits=min(job.cv_folds, n_pos, len(y) - n_pos), shuffle=True, random_state=job.seed)
    weighted = (
        {} if job.weights is None else {"lr__sample_weight" if job.nb_weighting else "sample_weight": job.weights}
    )
    oof = cross_val_predict(base, X, y, cv=folds, method="decision_function", params=weighted)
    t = np.ones(len(y), dtype=bool) if job.trusted is None else job.trusted
    yt, zt, n_true = y[t], oof[t], int(y[t].sum())
    a, b, info = calibrate(job.key, yt, zt, job.profiles, n_known=int(t.sum()), n_positive=n_true)
    validation = {}
    if job.kinds is not None:
        pooled = KindFit("all", "pooled", int(t.sum()), n_true, a, b, info.operating_points)
        info.kinds, validation = fit_kinds(yt, zt, job.kinds[t], pooled, job.profiles, job.min_positives)
    final = clone(base).fit(X, y, **weighted)
    if job.self_training:
        info.pseudo_labeled = dict(zip(("positive", "negative"), map(int, final.n_pseudo_), strict=True))
        final = final.estimator_
    if job.nb_weighting:
        coef = final.named_steps["lr"].coef_.ravel() * final.named_steps["nb"].ratio_
        intercept = float(final.named_steps["lr"].intercept_[0])
    else:
        coef, intercept = final.coef_.ravel(), float(final.intercept_[0])
    if job.topics is not None:
        coef = job.topics.fold(coef, n_features)
    return coef.astype(np.float32), intercept, a, b, info, validation


class MultiCategoryClassifier(ClassifierMixin, BaseEstimator):
    """Texts in, one calibrated probability per category out.

    `fit(texts, Y)`: Y is a (n, K) array or DataFrame of 1 / 0 / NaN (unknown), columns in
    the order of `categories`. A category with fewer than `min_positives` known positives
    (or negatives) is not trained: its probability is NaN and it is never flagged, and
    `category_fits_` says why. `category_params` overrides `C`, `class_weight`,
    `nb_weighting`, `self_training` ({n_positive, weight}, see SelfTrainedClassifier),
    `features` (all | word | char) or `topics` ({components, weight}, see TopicProjection;
    learned from the `unlabeled` texts of fit) for named categories: each where it helped on
    held-out data, and only there."""

    def __init__(  # noqa: PLR0913 - a scikit-learn estimator: each hyperparameter is an argument (get_params, clone)
        self,
        vectorizer,
        categories: list[str],
        C: float = 4.0,
        class_weight: str | None = "balanced",
        cv_folds: int = 5,
        min_positives: int = 10,
        threshold_rules: Mapping[str, ThresholdRule] | None = None,
        default_profile: str = DEFAULT_PROFILE,
        nb_weighting: bool = False,
        category_params: Mapping[str, Mapping[str, object]] | None = None,
        max_iter: int = 1000,
        n_jobs: int | None = None,
        random_state: int = 0,
        default_kind: str = DEFAULT_KIND,
        category_kinds: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.vectorizer = vectorizer
        self.categories = categories
        self.C = C
        self.class_weight = class_weight
        self.cv_folds = cv_folds
        self.min_positives = min_positives
        self.threshold_rules = threshold_rules
        self.default_profile = default_profile
        self.nb_weighting = nb_weighting
        self.category_params = category_params
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.default_kind = default_kind
        self.category_kinds = category_kinds

    def fit(self, X, Y, unlabeled=None, kinds=None, sample_weight=None, weak: WeakRows | None = None):
        """`unlabeled`: texts for the categories configured with `self_training` or `topics`. `kinds`:
        each row's kind (title, post, comment; default: all `default_kind`), for per-kind
        calibration and thresholds. `sample_weight`: per row, e.g. to favour a target
        source (None: every row counts once). `weak`: rows with weak labels that join the
        fit but not calibration (see WeakRows)."""
        texts = as_text_list(X)
        kinds = self._row_kinds(kinds, len(texts))
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if weights is not None and (weights.shape != (len(texts),) or not (weights > 0).all()):
            raise ValueError(f"sample_weight must be {len(texts)} positive numbers")
        if self.min_positives < 2:
            raise ValueError("min_positives must be at least 2 (cross-validation needs two positives)")
        Y = self._targets(Y, len(texts))
        texts, Y, kinds, weights, trusted = self._with_weak(texts, Y, kinds, weights, weak)
        profiles = ProfileSet.of(self.threshold_rules, self.default_profile)
        params = self._params_per_category()
        self.categories_ = list(self.categories)
        self.vectorizer_ = clone(self.vectorizer)
        started = time.perf_counter()
        features = self.vectorizer_.fit_transform(texts).tocsr()
        log.info("  features: %d texts -> %d columns (%.0f s)", *features.shape, time.perf_counter() - started)
        blocks = self._feature_blocks(features.shape[1])
        missing = sorted({p["features"] for p in params.values()} - set(blocks))
        if missing:
            raise ValueError(f"features {missing} asked for, but the vectorizer has only the blocks {sorted(blocks)}")
        pool = None
        if any(p["self_training"] or p["topics"] for p in params.values()):
            if unlabeled is None:
                raise ValueError("self_training or topics is configured but fit() got no unlabeled texts")
            pool = Shared(self.vectorizer_.transform(as_text_list(unlabeled)).tocsr())
        topics = self._topic_projections(params, pool, blocks)
        jobs, fits = [], {}
        for j, key in enumerate(self.categories_):
            known = ~np.isnan(Y[:, j])
            y = Y[known, j].astype(int)
            n_pos, n_neg = int(y[trusted[known]].sum()), int((y[trusted[known]] == 0).sum())
            if min(n_pos, n_neg) < self.min_positives:
                fits[key] = too_few(key, n_pos, n_neg, self.min_positives)
                continue
            job = replace(
                self._fit_job(key, params[key], profiles, pool, blocks, topics.get(key)),
                kinds=kinds[known],
                weights=None if weights is None else weights[known],
                trusted=None if trusted.all() else trusted[known],
            )
            jobs.append((j, features[known], y, job))
        # max_nbytes=None: workers get writable copies; liblinear converts index arrays in
        # place, which fails on joblib's read-only memory maps.
        results = self._fit_jobs(jobs)
        self._store_coefficients(features.shape[1], jobs, results)
        self._store_fits(
            profiles.rules, fits, {job.key: r[2:5] for (_, _, _, job), r in zip(jobs, results, strict=True)}
        )
        self._compiled = compile_features(self.vectorizer_)
        return self

    def _fit_jobs(self, jobs: list) -> list:
        """Fit every category, saying which is done as each finishes (in order)."""
        started, results = time.perf_counter(), []
        fitted = Parallel(n_jobs=self.n_jobs, max_nbytes=None, return_as="generator")(
            delayed(_fit_one)(Xk, y, job) for _, Xk, y, job in jobs
        )
        for n, ((_, Xk, _, job), result) in enumerate(zip(jobs, fitted, strict=True), start=1):
            results.append(result)
            log.info(
                "  %s fitted on %d rows (%d/%d, %.0f s)",
                job.key,
                Xk.shape[0],
                n,
                len(jobs),
                time.perf_counter() - started,
            )
        return results

    def _with_weak(self, texts, Y, kinds, weights, weak: WeakRows | None):
        """The labeled rows followed by the weak ones, and which rows are trusted (labeled)."""
        trusted = np.ones(len(texts), dtype=bool)
        if weak is None or not len(weak.texts):
            return texts, Y, kinds, weights, trusted
        n = len(weak.texts)
        weak_Y = self._targets(weak.Y, n)
        base = np.ones(len(texts)) if weights is None else weights
        return (
            texts + as_text_list(weak.texts),
            np.vstack([Y, weak_Y]),
            np.concatenate([kinds, np.full(n, check_kind(weak.kind), dtype=object)]),
            np.concatenate([base, np.full(n, float(weak.weight))]),
            np.concatenate([trusted, np.zeros(n, dtype=bool)]),
        )

    def _feature_blocks(self, n_features: int) -> dict[str, slice]:
        """Column ranges of the word and char blocks of the fitted vectorizer's union ("all":
        every column); a vectorizer without those named blocks has only "all"."""
        blocks = {"all": slice(0, n_features)}
        try:
            union = self.vectorizer_.named_steps["tfidf"]
            start = 0
            for name, part in union.transformer_list:
                size = len(part.vocabulary_)
                blocks[name] = slice(start, start + size)
                start += size
        except (AttributeError, KeyError, TypeError):
            pass
        return blocks

    def _store_coefficients(self, n_features: int, jobs: list, results: list) -> None:
        K = len(self.categories_)
        self.coef_ = np.zeros((n_features, K), dtype=np.float32)
        self.intercept_ = np.zeros(K)
        self.validation_ = {}  # category -> kind -> (labels, out-of-fold probabilities)
        for (j, _, _, job), (coef, intercept, _a, _b, _info, validation) in zip(jobs, results, strict=True):
            self.coef_[job.columns or slice(None), j] = coef
            self.intercept_[j] = intercept
            self.validation_[job.key] = validation

    def _targets(self, Y, n_texts: int) -> np.ndarray:
        """Y as a float (n, K) array in category order, checked to hold only 0, 1 and NaN."""
        if isinstance(Y, pd.DataFrame):
            missing = [c for c in self.categories if c not in Y.columns]
            if missing:
                raise ValueError(f"Y lacks columns for categories {missing}")
            Y = Y[list(self.categories)].to_numpy(dtype="float64", na_value=np.nan)
        Y = np.asarray(Y, dtype="float64")
        if Y.shape != (n_texts, len(self.categories)):
            raise ValueError(f"Y has shape {Y.shape}; expected ({n_texts}, {len(self.categories)})")
        if not np.all(np.isnan(Y) | (Y == 0) | (Y == 1)):
            raise ValueError("Y may hold only 0, 1 and NaN (unknown)")
        return Y

    def _fit_job(
        self, key: str, p: Mapping[str, object], profiles: ProfileSet, pool, blocks, topics: TopicProjection | None
    ) -> _FitJob:
        return _FitJob(
            key,
            p["C"],
            p["class_weight"],
            p["nb_weighting"],
            p["self_training"],
            self.cv_folds,
            profiles,
            self.random_state,
            self.max_iter,
            self._pool_for(pool, p, blocks),
            min_positives=self.min_positives,
            columns=None if topics is not None or p["features"] == "all" else blocks[p["features"]],
            topics=topics,
        )

    def _topic_projections(self, params, pool: Shared | None, blocks: dict[str, slice]) -> dict[str, TopicProjection]:
        """Per category with `topics`, the projection of its word unigrams onto the topics of
        the unlabeled pool; one SVD per number of components."""
        wanting = {key: p["topics"] for key, p in params.items() if p["topics"]}
        if not wanting:
            return {}
        if "word" not in blocks:
            raise ValueError(f"categories {sorted(wanting)} ask for topics, which need the vectorizer's word block")
        union = self.vectorizer_.named_steps["tfidf"]
        vocabulary = dict(union.transformer_list)["word"].vocabulary_
        start = blocks["word"].start
        words = np.sort([start + i for term, i in vocabulary.items() if " " not in term]).astype(np.int64)
        started, bases = time.perf_counter(), {}
        for spec in wanting.values():
            n = int(spec["components"])
            if n not in bases:
                bases[n] = topic_basis(pool.value, words, n, self.random_state)
        log.info(
            "  topics: %s components over %d word unigrams (%.0f s)",
            sorted(bases),
            len(words),
            time.perf_counter() - started,
        )
        return {
            key: TopicProjection(
                blocks[params[key]["features"]], words, bases[int(spec["components"])], float(spec["weight"])
            )
            for key, spec in wanting.items()
        }

    @staticmethod
    def _pool_for(pool: Shared | None, p: Mapping[str, object], blocks: dict[str, slice]) -> Shared | None:
        """The unlabeled pool for a self-training category, in its feature block."""
        if not p["self_training"]:
            return None
        return pool if p["features"] == "all" else Shared(pool.value[:, blocks[p["features"]]])

    def _store_fits(
        self, rules: Mapping[str, ThresholdRule], untrained: Mapping[str, CategoryFit], calibrated: Mapping[str, tuple]
    ) -> None:
        """Calibration, profiles and fit records from each trained category's `calibrate`
        result; the categories in `untrained` keep NaN scores and +inf thresholds."""
        K = len(self.categories_)
        self.calibration_ = np.zeros((K, 2))
        self.profiles_ = {name: np.full(K, np.inf) for name in rules}
        self.profile_reached_ = {name: np.zeros(K, dtype=bool) for name in rules}
        self.trained_ = np.zeros(K, dtype=bool)
        fits = dict(untrained)
        for key, (a, b, info) in calibrated.items():
            j = self.categories_.index(key)
            self.calibration_[j] = (a, b)
            for name, point in info.operating_points.items():
                self.profiles_[name][j] = point["threshold"]
                self.profile_reached_[name][j] = point["reached"]
            self.trained_[j] = True
            fits[key] = info
        self.category_fits_ = {k: fits[k] for k in self.categories_}
        self.default_profile_ = self.default_profile
        if any(f.kinds for f in fits.values()):
            self._store_kind_fits(rules)
        self.thresholds_ = self.profiles_[self.default_profile_]
        self.classes_ = np.array(self.categories_)

    def _store_kind_fits(self, rules: Mapping[str, ThresholdRule]) -> None:
        """Per-kind tables (kind × category) of calibration, thresholds and applicability.
        The pooled `calibration_` and `profiles_` become the default kind's, so a caller
        that names no kind gets exactly what the default kind gets."""
        n_kinds = len(KINDS)
        applies = dict(self.category_kinds or {})
        self.default_kind_ = check_kind(self.default_kind)
        self.kind_applies_ = np.array([[kind in applies.get(k, KINDS) for k in self.categories_] for kind in KINDS])
        self.kind_calibration_ = np.repeat(self.calibration_[None], n_kinds, axis=0)
        self.kind_profiles_ = {name: np.repeat(self.profiles_[name][None], n_kinds, axis=0) for name in rules}
        self.kind_reached_ = {name: np.repeat(self.profile_reached_[name][None], n_kinds, axis=0) for name in rules}
        for j, key in enumerate(self.categories_):
            for i, kind in enumerate(KINDS):
                fit = self.category_fits_[key].kinds.get(kind)
                if fit is None:
                    continue
                if not self.kind_applies_[i, j]:
                    fit["status"] = "not_applicable"
                self.kind_calibration_[i, j] = (fit["a"], fit["b"])
                for name, point in fit["operating_points"].items():
                    self.kind_profiles_[name][i, j] = point["threshold"]
                    self.kind_reached_[name][i, j] = point["reached"]
        d = KINDS.index(self.default_kind_)
        self.calibration_ = self.kind_calibration_[d].copy()
        self.profiles_ = {name: table[d].copy() for name, table in self.kind_profiles_.items()}
        self.profile_reached_ = {name: table[d].copy() for name, table in self.kind_reached_.items()}

    def _params_per_category(self) -> dict[str, dict[str, object]]:
        shared = {
            "C": self.C,
            "class_weight": self.class_weight,
            "nb_weighting": self.nb_weighting,
            "self_training": None,
            "features": "all",
            "topics": None,
        }
        overrides = dict(self.category_params or {})
        unknown = sorted(set(overrides) - set(self.categories))
        if unknown:
            raise ValueError(
                f"category_params names unknown categories {unknown}; categories are {list(self.categories)}"
            )
        params = {}
        for key in self.categories:
            extra = sorted(set(overrides.get(key, {})) - set(shared))
            if extra:
                raise ValueError(f"category_params[{key!r}] has unknown settings {extra}; allowed: {sorted(shared)}")
            params[key] = {**shared, **overrides.get(key, {})}
            if params[key]["self_training"] and params[key]["nb_weighting"]:
                raise ValueError(f"category {key!r}: self_training and nb_weighting cannot be combined")
            if params[key]["topics"] and (params[key]["self_training"] or params[key]["nb_weighting"]):
                raise ValueError(f"category {key!r}: topics cannot be combined with self_training or nb_weighting")
            if params[key]["features"] not in ("all", "word", "char"):
                raise ValueError(
                    f"category {key!r}: features must be all, word or char, not {params[key]['features']!r}"
                )
        return params

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: on Python 3.11 the base returns the live __dict__
        state.pop(_COMPILED, None)
        state.pop("_compiled", None)
        return state

    def __setstate__(self, state: dict) -> None:
        # Models pickled before a parameter existed get its default (get_params, repr, clone need it).
        state = {"default_kind": DEFAULT_KIND, "category_kinds": None, **state}
        state.pop("_compiled", None)
        super().__setstate__(state)

    @property
    def _compiled(self):
        """The compiled features (features/compiled.py), or None for a pipeline they do not
        cover. Built on first use rather than while unpickling: `pickle.load` holds its memo
        of every object it made until it returns, so compiling inside it stacked the
        compilation's temporary arrays on the load's peak (issue 19, peak RSS)."""
        compiled = self.__dict__.get(_COMPILED, _UNSET)
        if compiled is _UNSET:
            if not hasattr(self, "vectorizer_"):
                return None
            with _COMPILE_LOCK:
                compiled = self.__dict__.get(_COMPILED, _UNSET)
                if compiled is _UNSET:
                    _share_phonetic_map(self)
                    compiled = self.__dict__[_COMPILED] = compile_features(self.vectorizer_)
        return compiled

    @_compiled.setter
    def _compiled(self, value) -> None:
        self.__dict__[_COMPILED] = value

    def transform(self, X) -> sp.csr_matrix:
        """The fitted pipeline's TF-IDF rows of `X`, through the compiled features when the
        pipeline allows: the entries of `vectorizer_.transform`, equal to float32 precision
        (the rows scoring uses), faster: after compiling, the char vocabulary answers batch
        look-ups, not sklearn's one-by-one ones."""
        texts = as_text_list(X)
        compiled = getattr(self, "_compiled", None)
        if compiled is None:
            return self.vectorizer_.transform(texts).tocsr()
        return compiled.rows(texts).to_csr()

    def decision_function(self, X) -> np.ndarray:
        """Linear scores per category. Uses the compiled features when the pipeline allows
        (same values; a single text costs about 1/10 of sklearn's per-call overhead)."""
        texts = as_text_list(X)
        compiled = getattr(self, "_compiled", None)
        if compiled is None:
            return np.asarray(self.vectorizer_.transform(texts) @ self.coef_) + self.intercept_
        if len(texts) > _ONE_BY_ONE_MAX_ROWS:
            return np.asarray(compiled.rows(texts).to_csr() @ self.coef_) + self.intercept_
        z = np.empty((len(texts), len(self.intercept_)))
        for i, text in enumerate(texts):
            z[i] = compiled.dot(text, self.coef_)
        return z + self.intercept_

    def predict_proba(self, X, kind=None) -> np.ndarray:
        """(n, K) calibrated probabilities; NaN for categories that were not trained or do
        not apply to the text's kind. `kind`: one kind for every text, or one per text
        (default: the model's default kind). A content-free text (`has_content`: only
        spaces, invisible characters or punctuation) gets NaN for every category: nothing
        to judge, so never a flag."""
        texts = as_text_list(X)
        z = self.decision_function(texts)
        one = kind is None or isinstance(kind, str)  # one kind for every text: its (K,) row, no per-row gather
        codes = self._kind_codes(kind, 1 if one else len(z))
        if codes is None:
            a, b = self.calibration_[:, 0], self.calibration_[:, 1]
            proba = 1.0 / (1.0 + np.exp(-(a * z + b)))
        elif one:
            a, b = self.kind_calibration_[codes[0]].T
            proba = 1.0 / (1.0 + np.exp(-(a * z + b)))
            proba[:, ~self.kind_applies_[codes[0]]] = np.nan
        else:
            ab = self.kind_calibration_[codes]
            proba = 1.0 / (1.0 + np.exp(-(ab[..., 0] * z + ab[..., 1])))
            proba[~self.kind_applies_[codes]] = np.nan
        proba[:, ~self.trained_] = np.nan
        empty = [i for i, text in enumerate(texts) if not has_content(text)]
        if empty:
            proba[empty] = np.nan
        return proba

    def predict(self, X, profile: str | None = None, kind=None) -> np.ndarray:
        """(n, K) 0/1 flags at each category's threshold for `profile` (default: the model's)."""
        return self.flags(self.predict_proba(X, kind), profile, kind)

    def profile_thresholds(self, profile: str | None = None, kind: str | None = None) -> np.ndarray:
        """(K,) thresholds of a named operating point for one kind (default: the model's
        default kind); +inf where a category is untrained, or the profile's target was
        unreachable with `unreachable: never`, or the kind has too few positives."""
        name = self.default_profile_ if profile is None else profile
        if name not in self.profiles_:
            raise ValueError(f"unknown threshold profile {profile!r}; this model has {', '.join(self.profiles_)}")
        codes = self._kind_codes(kind, 1) if kind is not None else None
        if codes is None:
            return self.profiles_[name]
        return self.kind_profiles_[name][codes[0]]

    def flags(self, proba: np.ndarray, profile: str | None = None, kind=None) -> np.ndarray:
        """The flags of `proba` at the thresholds of `profile` for each row's kind. NaN
        (untrained, not applicable) compares False and +inf thresholds never flag."""
        self.profile_thresholds(profile)  # an unknown profile fails here
        one = kind is None or isinstance(kind, str)
        codes = self._kind_codes(kind, 1 if one else len(proba))
        if codes is None:
            return flags_at(proba, self.profile_thresholds(profile))
        name = self.default_profile_ if profile is None else profile
        return flags_at(proba, self.kind_profiles_[name][codes[0] if one else codes])

    @property
    def kinds_aware(self) -> bool:
        """True when the model was calibrated per kind (older models were not)."""
        return hasattr(self, "kind_calibration_")

    def _kind_codes(self, kind, n: int) -> np.ndarray | None:
        """Row indices into KINDS for `kind` (None: the default kind), or None for a model
        without per-kind tables. An unknown kind is a ValueError naming the kinds."""
        if kind is None:
            if not self.kinds_aware:
                return None
            return np.full(n, KINDS.index(self.default_kind_))
        if isinstance(kind, str):
            code = KINDS.index(check_kind(kind))
            return np.full(n, code) if self.kinds_aware else None
        kinds = np.asarray(kind, dtype=object)
        if len(kinds) != n:
            raise ValueError(f"{len(kinds)} kinds for {n} texts")
        codes = np.array([KINDS.index(check_kind(k)) for k in kinds], dtype=int)
        return codes if self.kinds_aware else None

    def _row_kinds(self, kinds, n: int) -> np.ndarray:
        check_kind(self.default_kind)
        if kinds is None:
            return np.full(n, self.default_kind, dtype=object)
        kinds = np.asarray(kinds, dtype=object)
        if len(kinds) != n:
            raise ValueError(f"{len(kinds)} kinds for {n} texts")
        for k in set(kinds.tolist()):
            check_kind(k)
        return kinds

    def fit_summary(self) -> list[dict]:
        return [asdict(f) for f in self.category_fits_.values()]
