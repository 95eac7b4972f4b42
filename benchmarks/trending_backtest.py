"""Time-ordered validation (backtest) of the two low-value categories, celebrity_hype and
trivial, on the labeled trending titles (weibo_trending_labeled train.csv + dev.csv).

Periods: every labeled title has the day it was first seen on the trending list. Each
evaluation period (2023H1, 2023H2, 2024H1, 2024H2) is scored by models fitted on all
labeled titles (uniform and enriched) first seen *before* the period starts, and only its
`sample == "uniform"` rows are scored. Unlabeled archive titles (self-training) and the
hot-search history (weak labels) are likewise cut at the period's first day, and every
labeled title is removed from both, so nothing of the evaluated period or later is used.

Variants (all fitted on the same labeled rows):
  baseline          char 1-3 TF-IDF (sublinear) + LogisticRegression(C=1, max_iter=1000)
  product           the shipped model: qinglang.training.train.build_classifier(load_config())
                    restricted to the two categories (default config: char block of the
                    product's vectorizer, C=16, balanced, Platt calibration per kind), fitted
                    with MultiCategoryClassifier.fit(kinds="title", weak=...) where the weak
                    rows are qinglang.training.train.weak_rows (data.weak_labels) with
                    `before` moved to the period's first day; scored with
                    predict_proba(texts, "title")
  product_noweak    the same model fitted without weak rows; it differs from product only
                    where there are hot-history rows before the period (2024H2 only)
  project_prev      the default config before the product change: build_classifier for the
                    two categories with the shared settings (C=4, balanced, jieba words 1-2
                    + chars 1-3) and trivial self-training on the archive titles first seen
                    before the period (15,000 pseudo-positives at weight 0.3)
  blend_prob        mean of baseline's and project_prev's probabilities
  blend_rank        mean of their ranks within the period (scaled to 0..1)
  char13_C16        baseline features, LogisticRegression(C=16, class_weight=balanced)
  char13_tuned      C and class weight chosen per period and category on the previous
                    half-year (fitted on the titles before it): selection never sees the
                    evaluated period
  char14_C16        char 1-4, C=16 balanced
  wordchar_C16      the product's word+char features (normalisation, jieba words 1-2 +
                    chars 1-3, min_df 2) with plain LogisticRegression(C=16, balanced),
                    uncalibrated
  recency_C16       char13_C16 with sample weights halving every 365 days of title age
  selftrain_C16     char13_C16 self-trained on the pre-period archive (qinglang's
                    SelfTrainedClassifier, 15,000 pseudo-positives at weight 0.3)
  rank_C16_prev     mean rank of char13_C16 and project_prev
  hot_weak          char13_C16 plus the hot-search history's rows dated before the period
                    as weak labels at sample weight 0.3 (Weibo's 明星 tag: celebrity_hype
                    positive; 搞笑/情感/星座/萌宠: trivial positive; see HOT_* below). That
                    file starts on 2024-05-20, so only 2024H2 has such rows: in earlier
                    periods this variant IS char13_C16 (marked in the tables)
  hot_stack         char13_C16's out-of-fold score stacked with a tag model (LR on the
                    pre-period hot-history titles predicting the weak label); falls back to
                    char13_C16 before 2024H2 like hot_weak
  hot_tag_only      the tag model alone, no labeled title at all (2024H2 only)
  multinomial_C16   one three-way LogisticRegression (celebrity_hype / trivial / neither;
                    C=16, balanced, lbfgs) on the baseline features: no labeled title is
                    both, so the two categories are one choice; each category's score is
                    its class probability

Reports per-period and pooled AP (sklearn average_precision_score), the mean of the
per-period APs, paired bootstrap 95% intervals (evaluated titles resampled, seed 0) of
AP(variant) - AP(baseline), pooled and on 2024H2 alone, the pairs of COMPARISONS (the
product against char13_C16 and hot_weak, multinomial_C16 against char13_C16) on the same
resamples, hot_weak with the product's text settings one at a time, and a learning curve
on 2024H2.

    .venv/bin/python benchmarks/trending_backtest.py --json runs/trending-backtest.json

About 10 minutes on 2 cores (project_prev's four fits take about 2 of them); --no-project
skips project_prev and the variants built on it. --variants product,hot_weak (any list;
the baseline always runs) fits only those variants and what they are built on and skips
the C sweep, the weight and text-settings checks and the learning curve: under a minute.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

REPO_ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ["celebrity_hype", "trivial"]
EVAL_PERIODS = [
    ("2023H1", "2023-01-01", "2023-07-01"),
    ("2023H2", "2023-07-01", "2024-01-01"),
    ("2024H1", "2024-01-01", "2024-07-01"),
    ("2024H2", "2024-07-01", "2025-01-01"),
]
STRONG_C = 16.0
TUNING_GRID = [(C, cw) for C in (0.25, 1.0, 4.0, 16.0, 64.0) for cw in (None, "balanced")]
RECENCY_HALF_LIFE_DAYS = 365
SELF_TRAINING = {"n_positive": 15000, "weight": 0.3}
# Weak labels from Weibo's own topic tag (first token of `category`, so 明星-内地 is 明星).
# Positives per category; negatives are rows with any other known tag, except the
# entertainment tags for celebrity_hype (drama/show/film promotion is often hype-adjacent).
HOT_POSITIVE = {"celebrity_hype": {"明星"}, "trivial": {"搞笑", "情感", "星座", "萌宠"}}
HOT_NOT_NEGATIVE = {"celebrity_hype": {"综艺", "电视剧", "电影", "音乐", "动漫", "游戏"}, "trivial": set()}
HOT_UNKNOWN_TAGS = {"", "暂无"}
HOT_WEIGHT = 0.3
HOT_WEIGHTS_CHECKED = (0.1, 0.3, 1.0)
LEARNING_SIZES = [250, 500, 1000]
# Every variant in table order, and the variants each one is built on (--variants).
VARIANTS = (
    "baseline",
    "product",
    "product_noweak",
    "project_prev",
    "blend_prob",
    "blend_rank",
    "char13_C16",
    "char13_tuned",
    "char14_C16",
    "wordchar_C16",
    "recency_C16",
    "selftrain_C16",
    "rank_C16_prev",
    "hot_weak",
    "hot_stack",
    "hot_tag_only",
    "multinomial_C16",
)
BUILT_ON = {
    "product_noweak": ("product",),
    "blend_prob": ("project_prev",),
    "blend_rank": ("project_prev",),
    "rank_C16_prev": ("project_prev", "char13_C16"),
    "hot_weak": ("char13_C16",),
    "hot_stack": ("char13_C16",),
    "hot_tag_only": ("hot_stack",),
    "multinomial_C16": ("char13_C16",),  # not built on it: its reference in COMPARISONS
}
COMES_WITH = {"product": "product_noweak", "hot_stack": "hot_tag_only"}  # out of the same fits
PROJECT_VARIANTS = ("project_prev", "blend_prob", "blend_rank", "rank_C16_prev")
FALLBACK_VARIANTS = ("hot_weak", "hot_stack")  # char13_C16 where no hot-history row precedes the period
# (variant, reference) pairs compared on the same bootstrap resamples, where both ran
# (product_noweak: 2024H2 only).
COMPARISONS = (
    ("product", "char13_C16"),
    ("product", "hot_weak"),
    ("product_noweak", "char13_C16"),
    ("multinomial_C16", "char13_C16"),
)


def default_data_dir() -> Path:
    return (REPO_ROOT / ".." / "shared" / "datasets").resolve()


# ---------------------------------------------------------------- data


def load_labeled(data_dir: Path) -> pd.DataFrame:
    folder = data_dir / "weibo_trending_labeled"
    frames = [pd.read_csv(folder / f"{s}.csv", keep_default_na=False, encoding="utf-8-sig") for s in ("train", "dev")]
    df = pd.concat(frames, ignore_index=True)
    df["text"] = df["text"].astype(str).str.strip()
    df["first_seen"] = pd.to_datetime(df["first_seen"])
    for key in CATEGORIES:
        df[key] = df["labels"].map(lambda s, k=key: int(k in {x.strip() for x in str(s).split(";")}))
    return df.sort_values(["first_seen", "id"], kind="stable").reset_index(drop=True)


def load_archive_titles(data_dir: Path) -> pd.DataFrame:
    """Distinct archive titles with the day each was first seen. Filtering this by
    `first_seen < day` gives exactly the titles `load_trending_archive(date_to=day - 1)`
    would return, which is what training's data.unlabeled_archive {before: day} reads."""
    from qinglang.data.loaders.archive import load_trending_archive

    archive = load_trending_archive(data_dir / "weibo_trending" / "raw")
    return archive.titles[["title", "first_seen"]]


def load_hot_history(data_dir: Path) -> pd.DataFrame:
    hot = pd.read_csv(data_dir / "weibo_hot_history" / "weibo_hot_history_2024.csv", keep_default_na=False)
    hot["day"] = pd.to_datetime(hot["day"])
    hot["title"] = hot["title"].astype(str).str.strip()
    hot["tag"] = hot["category"].astype(str).str.split("-").str[0].str.strip()
    return hot


def weak_rows(hot: pd.DataFrame, before: pd.Timestamp, exclude: set[str], key: str) -> tuple[list[str], np.ndarray]:
    """Hot-history titles dated before `before` (no labeled title), each once with its
    earliest tag, and their weak 0/1 label for `key`; rows with no usable tag are left out."""
    rows = hot[(hot["day"] < before) & ~hot["title"].isin(exclude)].sort_values("day", kind="stable")
    rows = rows.drop_duplicates("title")
    positive = rows["tag"].isin(HOT_POSITIVE[key])
    negative = ~positive & ~rows["tag"].isin(HOT_NOT_NEGATIVE[key] | HOT_UNKNOWN_TAGS | HOT_POSITIVE[key])
    keep = positive | negative
    return rows.loc[keep, "title"].tolist(), positive[keep].astype(int).to_numpy()


@dataclass
class Period:
    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    fit: pd.DataFrame
    eval: pd.DataFrame
    pool: list[str] = field(default_factory=list)


def make_period(df: pd.DataFrame, name: str, start: str, end: str) -> Period:
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    fit = df[df["first_seen"] < s]
    ev = df[(df["first_seen"] >= s) & (df["first_seen"] < e) & (df["sample"] == "uniform")]
    return Period(name, s, e, fit.reset_index(drop=True), ev.reset_index(drop=True))


# ---------------------------------------------------------------- models


def char_vectorizer(ngrams: tuple[int, int] = (1, 3)) -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char", ngram_range=ngrams, sublinear_tf=True)


def logreg(C: float = 1.0, class_weight: str | None = None, solver: str = "liblinear") -> LogisticRegression:
    """The baseline uses scikit-learn's default solver (lbfgs); every variant uses liblinear
    (as qinglang's classifier does): same optimum up to the intercept's penalty, 10-50x
    faster at C=16 on these features (AP within ±0.01 of lbfgs per period)."""
    return LogisticRegression(C=C, class_weight=class_weight, solver=solver, max_iter=1000, random_state=0)


def baseline_scores(fit: pd.DataFrame, eval_texts) -> np.ndarray:
    """(a): char 1-3 TF-IDF + LogisticRegression(), default C=1 and lbfgs, max_iter 1000."""
    return char_scores(fit["text"], fit, eval_texts, solver="lbfgs")


def char_scores(
    fit_texts,
    fit_labels: pd.DataFrame,
    eval_texts,
    C=1.0,
    class_weight=None,
    ngrams=(1, 3),
    weights=None,
    solver="liblinear",
):
    """(n_eval, 2) probabilities of one char TF-IDF + logistic regression per category."""
    vec = char_vectorizer(ngrams)
    X, Xe = vec.fit_transform(list(fit_texts)), vec.transform(list(eval_texts))
    return np.column_stack(
        [
            logreg(C, class_weight, solver)
            .fit(X, fit_labels[k].to_numpy(), sample_weight=weights)
            .predict_proba(Xe)[:, 1]
            for k in CATEGORIES
        ]
    )


def multinomial_scores(fit: pd.DataFrame, eval_texts, C: float = STRONG_C) -> np.ndarray:
    """(n_eval, 2) class probabilities of one three-way logistic regression (celebrity_hype /
    trivial / neither) on the char features; the two labels must never meet on a title."""
    both = (fit[CATEGORIES[0]] == 1) & (fit[CATEGORIES[1]] == 1)
    if both.any():
        raise ValueError(f"{int(both.sum())} fitted titles carry both {CATEGORIES}: no three-way choice")
    target = np.select([fit[CATEGORIES[0]] == 1, fit[CATEGORIES[1]] == 1], [1, 2], 0)
    vec = char_vectorizer()
    X, Xe = vec.fit_transform(list(fit["text"])), vec.transform(list(eval_texts))
    lr = LogisticRegression(C=C, class_weight="balanced", max_iter=3000, random_state=0).fit(X, target)
    return lr.predict_proba(Xe)[:, [1, 2]]


def ranks(scores: np.ndarray) -> np.ndarray:
    return np.column_stack([rankdata(scores[:, j]) / len(scores) for j in range(scores.shape[1])])


def tuned_scores(df: pd.DataFrame, period: Period) -> tuple[np.ndarray, dict]:
    """C and class weight per category chosen on the half-year before the period (fitted
    on the titles before that half-year), then refitted on everything before the period."""
    tune = make_period(df, "tune", str((period.start - pd.DateOffset(months=6)).date()), str(period.start.date()))
    vec = char_vectorizer()
    X, Xt = vec.fit_transform(tune.fit["text"]), vec.transform(tune.eval["text"])
    final = char_vectorizer()
    Xf, Xe = final.fit_transform(period.fit["text"]), final.transform(period.eval["text"])
    chosen, cols = {}, []
    for key in CATEGORIES:
        y, yt = tune.fit[key].to_numpy(), tune.eval[key].to_numpy()
        aps = [average_precision_score(yt, logreg(C, cw).fit(X, y).predict_proba(Xt)[:, 1]) for C, cw in TUNING_GRID]
        C, cw = TUNING_GRID[int(np.argmax(aps))]
        chosen[key] = {"C": C, "class_weight": cw or "none", "tuning_ap": round(float(max(aps)), 4)}
        cols.append(logreg(C, cw).fit(Xf, period.fit[key].to_numpy()).predict_proba(Xe)[:, 1])
    return np.column_stack(cols), chosen


def wordchar_scores(period: Period) -> np.ndarray:
    from qinglang.features.tokenizer import JiebaTokenizer
    from qinglang.features.vectorizer import FeatureSettings, build_vectorizer

    vec = build_vectorizer(FeatureSettings(), JiebaTokenizer())
    X, Xe = vec.fit_transform(period.fit["text"].tolist()), vec.transform(period.eval["text"].tolist())
    return np.column_stack(
        [logreg(STRONG_C, "balanced").fit(X, period.fit[k]).predict_proba(Xe)[:, 1] for k in CATEGORIES]
    )


def selftrain_scores(period: Period) -> np.ndarray:
    from qinglang.models.multilabel import SelfTrainedClassifier, Shared

    vec = char_vectorizer()
    X, Xe = vec.fit_transform(period.fit["text"]), vec.transform(period.eval["text"])
    pool = Shared(vec.transform(period.pool).tocsr())
    cols = []
    for key in CATEGORIES:
        model = SelfTrainedClassifier(logreg(STRONG_C, "balanced"), pool, **SELF_TRAINING)
        cols.append(1 / (1 + np.exp(-model.fit(X, period.fit[key].to_numpy()).decision_function(Xe))))
    return np.column_stack(cols)


def _two_category_classifier(config, taxonomy, unlabeled=None, category_params=None):
    """build_classifier(config) restricted to CATEGORIES: the other categories' per-category
    settings are dropped (the classifier refuses settings for categories it does not fit)."""
    from qinglang.training.train import build_classifier

    classifier = build_classifier(config, taxonomy, unlabeled=unlabeled)
    if category_params is None:
        params = classifier.get_params()["category_params"] or {}
        category_params = {k: v for k, v in params.items() if k in CATEGORIES}
    return classifier.set_params(categories=CATEGORIES, category_params=category_params)


def product_weak_rows(config, taxonomy, data_dir: Path, df: pd.DataFrame, period: Period, hot: pd.DataFrame):
    """The product's own weak rows (qinglang.training.train.weak_rows, data.weak_labels of
    the config) with `before` moved to the period's first day, every labeled trending title
    left out; the label columns cut to CATEGORIES. None without data.weak_labels or rows."""
    from qinglang.data.dataset import Dataset
    from qinglang.models.multilabel import WeakRows
    from qinglang.training import train

    spec = config.data.weak_labels
    if spec is None:
        return None
    moved = spec.model_copy(update={"before": period.start.date()})
    cut = config.model_copy(update={"data": config.data.model_copy(update={"weak_labels": moved})})
    data = train.RunData(taxonomy, Dataset(df[["text"]], {}, {}, []), "backtest", period.fit, period.eval)
    weak, _ = train.weak_rows(cut, data_dir, data, release=False)
    Y = weak.Y[:, [taxonomy.keys.index(k) for k in CATEGORIES]]
    keep = ~np.isnan(Y).all(axis=1)
    texts = [t for t, k in zip(weak.texts, keep, strict=True) if k]
    assert set(texts) <= set(hot.loc[hot["day"] < period.start, "title"]), "a weak row dated in or after the period"
    assert not set(texts) & set(df["text"]), "a labeled title among the weak rows"
    return WeakRows(texts, Y[keep], weak.kind, weak.weight) if texts else None


def reads_unlabeled(config) -> bool:
    """Whether the config's celebrity_hype or trivial settings use unlabeled titles."""
    return any(config.model.categories[k].reads_unlabeled for k in CATEGORIES if k in config.model.categories)


def product_pool(config, period: Period) -> list[str] | None:
    """The archive titles first seen before the period (period.pool, no labeled title) when
    the config's celebrity_hype or trivial settings read unlabeled text (topics,
    self-training), as training's data.unlabeled_archive {before: <day>} would; else None."""
    if not reads_unlabeled(config):
        return None
    assert period.pool, f"{period.name}: the config reads unlabeled titles, but the period has no archive pool"
    return period.pool


def product_scores(df: pd.DataFrame, period: Period, data_dir: Path, hot: pd.DataFrame):
    """The shipped model (load_config()'s default config) for the two categories: fitted on
    the labeled titles before the period (kind "title") plus the product's weak rows dated
    before it, scored with predict_proba(texts, "title"). Returns (scores, scores fitted
    without weak rows or None when the period has none, weak-row count per category). The
    unlabeled pool (product_pool) is the period's archive pool when the config gives either
    category topics or self-training. The phonetic map is left out (online_violence only)."""
    from qinglang.data.taxonomy import TITLE, load_taxonomy
    from qinglang.training.config import load_config

    config = load_config(None)
    taxonomy = load_taxonomy(config.taxonomy)
    weak = product_weak_rows(config, taxonomy, data_dir, df, period, hot)
    texts, kinds = period.fit["text"].tolist(), np.full(len(period.fit), TITLE, dtype=object)

    pool = product_pool(config, period)

    def fitted(rows):
        classifier = _two_category_classifier(config, taxonomy, pool)
        classifier.fit(texts, period.fit[CATEGORIES], kinds=kinds, weak=rows, unlabeled=pool)
        return classifier.predict_proba(period.eval["text"].tolist(), TITLE)

    counts = [0, 0] if weak is None else (~np.isnan(weak.Y)).sum(axis=0).tolist()
    return fitted(weak), None if weak is None else fitted(None), counts


def project_prev_scores(period: Period) -> np.ndarray:
    """The default config's classifier before the product change, for the two categories:
    the shared settings (C=4, balanced, words + chars; the current config's, as this script
    asserts) for both, trivial self-trained on the period's archive pool, fitted on the
    labeled trending titles before the period without kinds or weak rows."""
    from qinglang.data.taxonomy import load_taxonomy
    from qinglang.training.config import load_config

    config = load_config(None)
    m, f = config.model, config.features
    assert (m.C, m.class_weight, m.nb_weighting) == (4.0, "balanced", False), "shared model settings changed"
    assert (tuple(f.word_ngrams), tuple(f.char_ngrams), f.min_df) == ((1, 2), (1, 3), 2), "features changed"
    previous = {"trivial": {"self_training": dict(SELF_TRAINING)}}
    classifier = _two_category_classifier(config, load_taxonomy(config.taxonomy), period.pool, previous)
    classifier.fit(period.fit["text"].tolist(), period.fit[CATEGORIES], unlabeled=period.pool)
    return classifier.predict_proba(period.eval["text"].tolist())


def hot_weak_scores(
    fit: pd.DataFrame, eval_texts, hot: pd.DataFrame, before, exclude, weight: float = HOT_WEIGHT
) -> np.ndarray | None:
    """char13_C16 fitted on the labeled rows plus the weak hot-history rows at `weight`
    (class_weight=balanced counts rows of both kinds); None when there are no hot-history
    rows before the period."""
    cols = []
    for key in CATEGORIES:
        titles, y_weak = weak_rows(hot, before, exclude, key)
        if len(titles) == 0:
            return None
        vec = char_vectorizer()
        X = vec.fit_transform(fit["text"].tolist() + titles)
        y = np.concatenate([fit[key].to_numpy(), y_weak])
        w = np.concatenate([np.ones(len(fit)), np.full(len(titles), weight)])
        cols.append(
            logreg(STRONG_C, "balanced").fit(X, y, sample_weight=w).predict_proba(vec.transform(eval_texts))[:, 1]
        )
    return np.column_stack(cols)


def hot_stack_scores(period: Period, hot: pd.DataFrame, exclude: set[str], seed: int):
    """(stacked, tag-only) scores, or (None, None) without hot-history rows before the period.
    Stacker: logistic regression on [out-of-fold char13_C16 logit, tag-model logit] over the
    labeled fit rows (none of which the tag model saw)."""
    stacked, tag_only = [], []
    vec = char_vectorizer()
    X, Xe = vec.fit_transform(period.fit["text"]), vec.transform(period.eval["text"])
    for key in CATEGORIES:
        titles, y_weak = weak_rows(hot, period.start, exclude, key)
        if len(titles) == 0:
            return None, None
        tag_vec = char_vectorizer()
        tag_model = logreg(4.0).fit(tag_vec.fit_transform(titles), y_weak)
        tag_fit = tag_model.decision_function(tag_vec.transform(period.fit["text"]))
        tag_eval = tag_model.decision_function(tag_vec.transform(period.eval["text"]))
        y = period.fit[key].to_numpy()
        folds = StratifiedKFold(5, shuffle=True, random_state=seed)
        oof = cross_val_predict(logreg(STRONG_C, "balanced"), X, y, cv=folds, method="decision_function")
        own = logreg(STRONG_C, "balanced").fit(X, y).decision_function(Xe)
        stacker = LogisticRegression().fit(np.column_stack([oof, tag_fit]), y)
        stacked.append(stacker.predict_proba(np.column_stack([own, tag_eval]))[:, 1])
        tag_only.append(1 / (1 + np.exp(-tag_eval)))
    return np.column_stack(stacked), np.column_stack(tag_only)


# ---------------------------------------------------------------- evaluation


def fast_ap(y: np.ndarray, s: np.ndarray) -> float:
    """sklearn's average_precision_score (tied scores form one threshold), in plain numpy
    for the bootstrap; checked against sklearn on every call of ap_columns."""
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y)[last]
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def ap_columns(y: np.ndarray, scores: np.ndarray) -> list[float]:
    out = [float(average_precision_score(y[:, j], scores[:, j])) for j in range(len(CATEGORIES))]
    assert np.allclose(out, [fast_ap(y[:, j], scores[:, j]) for j in range(len(CATEGORIES))])
    return out


def paired_bootstrap(
    y, scores: dict[str, np.ndarray], groups, n_boot: int, seed: int, reference: str = "baseline"
) -> dict:
    """Per variant and category: AP(variant) - AP(reference) pooled over the rows, with a
    95% percentile interval from `n_boot` resamples of the rows (the same resamples for
    every variant, and for every call with the same seed, rows and groups); and the same
    for the mean of per-group APs, rows resampled within groups."""
    rng = np.random.default_rng(seed)
    n = len(y)
    group_ids = {g: np.flatnonzero(groups == g) for g in np.unique(groups)}
    pooled_d = {v: [] for v in scores}
    mean_d = {v: [] for v in scores}

    def mean_ap(idx_by_group, s, j):
        return np.mean([fast_ap(y[ix, j], s[ix, j]) for ix in idx_by_group])

    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        strat = [ix[rng.integers(0, len(ix), len(ix))] for ix in group_ids.values()]
        base_p = [fast_ap(y[idx, j], scores[reference][idx, j]) for j in range(len(CATEGORIES))]
        base_m = [mean_ap(strat, scores[reference], j) for j in range(len(CATEGORIES))]
        for v, s in scores.items():
            pooled_d[v].append([fast_ap(y[idx, j], s[idx, j]) - base_p[j] for j in range(len(CATEGORIES))])
            mean_d[v].append([mean_ap(strat, s, j) - base_m[j] for j in range(len(CATEGORIES))])
    out = {}
    full_ix = list(group_ids.values())
    for v, s in scores.items():
        pd_, md_ = np.array(pooled_d[v]), np.array(mean_d[v])
        out[v] = {}
        for j, key in enumerate(CATEGORIES):
            out[v][key] = {
                "ap": float(fast_ap(y[:, j], s[:, j])),
                "delta": float(fast_ap(y[:, j], s[:, j]) - fast_ap(y[:, j], scores[reference][:, j])),
                "ci": [float(np.percentile(pd_[:, j], 2.5)), float(np.percentile(pd_[:, j], 97.5))],
                "p_better": float((pd_[:, j] > 0).mean()),
                "mean_ap": float(mean_ap(full_ix, s, j)),
                "mean_delta": float(mean_ap(full_ix, s, j) - mean_ap(full_ix, scores[reference], j)),
                "mean_ci": [float(np.percentile(md_[:, j], 2.5)), float(np.percentile(md_[:, j], 97.5))],
            }
    return out


def c_sweep(periods: list[Period]) -> list[dict]:
    """char 1-3 TF-IDF with liblinear at each C and class weight of TUNING_GRID: AP per
    period and mean of periods, to show how much of a gain depends on the exact C."""
    rows = []
    for C, cw in TUNING_GRID:
        per = {
            p.name: ap_columns(p.eval[CATEGORIES].to_numpy(), char_scores(p.fit["text"], p.fit, p.eval["text"], C, cw))
            for p in periods
        }
        rows.append(
            {
                "C": C,
                "class_weight": cw or "none",
                "per_period": per,
                "mean": np.mean(list(per.values()), axis=0).tolist(),
            }
        )
    return rows


def hot_weight_sensitivity(df: pd.DataFrame, hot: pd.DataFrame) -> dict[str, list[float]]:
    """hot_weak on 2024H2 at other weak-label weights (0.3 is the variant's)."""
    period = make_period(df, *EVAL_PERIODS[-1])
    y = period.eval[CATEGORIES].to_numpy()
    return {
        str(w): ap_columns(
            y, hot_weak_scores(period.fit, period.eval["text"].tolist(), hot, period.start, set(df["text"]), w)
        )
        for w in HOT_WEIGHTS_CHECKED
    }


def text_settings_check(df: pd.DataFrame, periods: list[Period], hot: pd.DataFrame) -> list[dict]:
    """hot_weak (char13_C16 where no hot-history row precedes the period) with the product's
    text settings (features section of the default config) one at a time: min_df, and the
    product's normalisation (NFKC, lower case, URL/mention tokens, de-obfuscation, repeats)
    before the character n-grams. AP per period and mean of periods."""
    from sklearn.pipeline import make_pipeline

    from qinglang.features.normalize import TextNormalizer
    from qinglang.training.config import load_config

    f = load_config(None).features
    exclude = set(df["text"])
    settings = [("as hot_weak", 1, False), (f"min_df {f.min_df}", f.min_df, False), ("normalisation", 1, True)]
    settings.append(("both (the product's)", f.min_df, True))
    rows = []
    for name, min_df, normalize in settings:
        per = {}
        for p in periods:
            cols = []
            for key in CATEGORIES:
                titles, y_weak = weak_rows(hot, p.start, exclude, key)
                vec = TfidfVectorizer(
                    analyzer="char",
                    ngram_range=tuple(f.char_ngrams),
                    sublinear_tf=True,
                    min_df=min_df,
                    lowercase=not normalize,
                )
                if normalize:
                    vec = make_pipeline(TextNormalizer(f.max_chars, deobfuscate=f.deobfuscate), vec)
                X = vec.fit_transform(p.fit["text"].tolist() + titles)
                y = np.concatenate([p.fit[key].to_numpy(), y_weak])
                w = np.concatenate([np.ones(len(p.fit)), np.full(len(titles), HOT_WEIGHT)])
                model = logreg(STRONG_C, "balanced").fit(X, y, sample_weight=w)
                cols.append(model.decision_function(vec.transform(p.eval["text"].tolist())))
            per[p.name] = ap_columns(p.eval[CATEGORIES].to_numpy(), np.column_stack(cols))
        rows.append({"setting": name, "per_period": per, "mean": np.mean(list(per.values()), axis=0).tolist()})
    return rows


def learning_curve(df: pd.DataFrame, hot: pd.DataFrame, repeats: int, seed: int) -> list[dict]:
    """AP on 2024H2's uniform rows against the number of labeled titles fitted on: random
    subsets (mean and sd over `repeats` draws) and the most recent N, for the baseline,
    char13_C16 and hot_weak."""
    period = make_period(df, *EVAL_PERIODS[-1])
    exclude = set(df["text"])
    y = period.eval[CATEGORIES].to_numpy()
    rng = np.random.default_rng(seed)
    n_all = len(period.fit)
    variants = {
        "baseline": lambda f: baseline_scores(f, period.eval["text"]),
        "char13_C16": lambda f: char_scores(f["text"], f, period.eval["text"], STRONG_C, "balanced"),
        "hot_weak": lambda f: hot_weak_scores(f, period.eval["text"].tolist(), hot, period.start, exclude),
    }
    rows = []
    for size in [*LEARNING_SIZES, n_all]:
        draws = [np.sort(rng.choice(n_all, size, replace=False)) for _ in range(repeats if size < n_all else 1)]
        recent = np.arange(n_all - size, n_all)
        for name, fn in variants.items():
            aps = np.array([ap_columns(y, fn(period.fit.iloc[ix])) for ix in draws])
            rec = ap_columns(y, fn(period.fit.iloc[recent]))
            row = {"n": size, "variant": name, "draws": len(draws)}
            for j, key in enumerate(CATEGORIES):
                row[key] = {"mean": float(aps[:, j].mean()), "sd": float(aps[:, j].std()), "most_recent": rec[j]}
            rows.append(row)
    return rows


# ---------------------------------------------------------------- tables


def md_table(header: list[str], rows: list[list]) -> str:
    def fmt(x):
        return f"{x:.3f}" if isinstance(x, float) else str(x)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def signed(x: float) -> str:
    return f"{x:+.3f}"


def interval(ci) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def label(variant: str) -> str:
    return f"{variant} *" if variant in FALLBACK_VARIANTS else variant


def dash(x):
    return "—" if x is None else x


def print_tables(result: dict) -> None:
    periods = [p["name"] for p in result["periods"]]
    variants = list(result["per_period"])
    print("\n## Periods (fit = labeled titles before the period; eval = its uniform rows)\n")
    print(
        md_table(
            [
                "period",
                "fit titles",
                "eval titles",
                "celebrity_hype +",
                "trivial +",
                "archive pool",
                "hot-history rows",
                "product weak titles (celebrity_hype / trivial)",
            ],
            [
                [
                    p["name"],
                    p["n_fit"],
                    p["n_eval"],
                    p["positives"][0],
                    p["positives"][1],
                    dash(p["pool"]),
                    p["hot_rows"],
                    " / ".join(map(str, p["product_weak_rows"])) if "product_weak_rows" in p else "—",
                ]
                for p in result["periods"]
            ],
        )
    )
    for j, key in enumerate(CATEGORIES):
        print(f"\n## {key}: AP per period, pooled, mean of periods\n")
        rows = []
        for v in variants:
            per = [result["per_period"][v][p][j] if p in result["per_period"][v] else "—" for p in periods]
            boot = result["bootstrap_pooled"].get(v, {}).get(key)
            pooled = [boot["ap"], boot["mean_ap"]] if boot else ["—", "—"]
            rows.append([label(v), *per, *pooled])
        print(md_table(["variant", *periods, "pooled", "mean"], rows))
    print("\n\\* before 2024H2 there are no hot-history rows: the variant is char13_C16 there.")
    print("product_noweak differs from product only where there are weak rows (2024H2).")
    for scope, title in (("bootstrap_pooled", "all four periods"), ("bootstrap_2024H2", "2024H2 only")):
        print(f"\n## AP(variant) - AP(baseline), paired bootstrap 95% intervals, {title}\n")
        header = ["variant"]
        for key in CATEGORIES:
            header += [f"{key} Δ", "95% CI", "P(Δ>0)"]
            if scope == "bootstrap_pooled":
                header += ["Δ mean of periods", "95% CI"]
        rows = []
        for v, d in result[scope].items():
            if v == "baseline":
                continue
            row = [label(v)]
            for key in CATEGORIES:
                b = d[key]
                row += [signed(b["delta"]), interval(b["ci"]), f"{b['p_better']:.3f}"]
                if scope == "bootstrap_pooled":
                    row += [signed(b["mean_delta"]), interval(b["mean_ci"])]
            rows.append(row)
        print(md_table(header, rows))
    print_reference_comparisons(result["product_vs"])
    print_checks(result, periods)


def print_reference_comparisons(rows: list[dict]) -> None:
    if not rows:
        return
    print("\n## variants against their references (product_noweak: 2024H2 only), same resamples\n")
    header = ["variant", "reference"]
    for key in CATEGORIES:
        header += [f"{key} Δ pooled", "95% CI", "Δ mean of periods", "95% CI", "Δ 2024H2", "95% CI", "P(Δ>0) 2024H2"]
    table = []
    for r in rows:
        row = [r["variant"], r["reference"]]
        for key in CATEGORIES:
            b, last = (r["pooled"] or {}).get(key), r["2024H2"][key]
            row += (
                [signed(b["delta"]), interval(b["ci"]), signed(b["mean_delta"]), interval(b["mean_ci"])]
                if b
                else ["—"] * 4
            )
            row += [signed(last["delta"]), interval(last["ci"]), f"{last['p_better']:.3f}"]
        table.append(row)
    print(md_table(header, table))


def print_checks(result: dict, periods: list[str]) -> None:
    """The tuned choices, the C sweep, the weight and text-settings checks and the learning
    curve, where they ran."""
    if result["tuned_choices"]:
        print_tuned_choices(result["tuned_choices"])
    if not result["c_sweep"]:
        return
    print("\n## char 1-3 TF-IDF + LR (liblinear) by C and class weight: AP per period and mean\n")
    rows = []
    for j, key in enumerate(CATEGORIES):
        for r in result["c_sweep"]:
            rows.append(
                [key, f"{r['C']:g}", r["class_weight"], *(r["per_period"][p][j] for p in periods), r["mean"][j]]
            )
    print(md_table(["category", "C", "class weight", *periods, "mean"], rows))
    print("\n## hot_weak on 2024H2 by weak-label weight\n")
    print(
        md_table(
            ["weight", *CATEGORIES],
            [[w, *aps] for w, aps in result["hot_weight_sensitivity_2024H2"].items()],
        )
    )
    print("\n## hot_weak with the product's text settings, one at a time: AP per period and mean\n")
    rows = [
        [key, r["setting"], *(r["per_period"][p][j] for p in periods), r["mean"][j]]
        for j, key in enumerate(CATEGORIES)
        for r in result["text_settings"]
    ]
    print(md_table(["category", "char n-grams", *periods, "mean"], rows))
    if result["learning_curve"]:
        print("\n## Learning curve: AP on 2024H2 uniform rows vs labeled titles fitted on\n")
        rows = []
        for r in result["learning_curve"]:
            row = [r["n"], r["variant"]]
            for key in CATEGORIES:
                c = r[key]
                row += [f"{c['mean']:.3f} ± {c['sd']:.3f}" if r["draws"] > 1 else f"{c['mean']:.3f}", c["most_recent"]]
            rows.append(row)
        header = ["labeled titles", "variant"]
        for key in CATEGORIES:
            header += [f"{key} random subset", "most recent N"]
        print(md_table(header, rows))
        print(f"\nhot_tag_only (0 labeled titles): {result['hot_tag_only_2024H2']}")


def print_tuned_choices(choices: dict) -> None:
    print("\n## char13_tuned: settings chosen on the previous half-year\n")
    print(
        md_table(
            ["period", *CATEGORIES],
            [
                [
                    p,
                    *(
                        f"C={c[k]['C']:g}, {c[k]['class_weight']} (tuning AP {c[k]['tuning_ap']:.3f})"
                        for k in CATEGORIES
                    ),
                ]
                for p, c in choices.items()
            ],
        )
    )


# ---------------------------------------------------------------- main


def selected_variants(names: str | None, no_project: bool) -> list[str]:
    """The variants to run, in table order: the named ones (all when None), the baseline,
    and the variants they are built on (product brings product_noweak, hot_stack brings
    hot_tag_only: they come out of the same fits)."""
    wanted = set(VARIANTS) if names is None else {n.strip() for n in names.split(",") if n.strip()}
    unknown = sorted(wanted - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    wanted |= {"baseline"} | {COMES_WITH[v] for v in wanted if v in COMES_WITH}
    if no_project:
        wanted -= set(PROJECT_VARIANTS)
    while extra := {d for v in wanted for d in BUILT_ON.get(v, ())} - wanted:
        wanted |= extra
    return [v for v in VARIANTS if v in wanted]


def run_period(df, period: Period, hot, args, choices: dict, needed: set[str], info: dict) -> dict[str, np.ndarray]:
    """Scores of every variant in `needed` on the period's evaluated rows (product_noweak and
    hot_tag_only only where the period has hot-history rows before it); `info` gets the
    product's weak-row counts."""
    exclude = set(df["text"])
    s: dict[str, np.ndarray] = {}
    texts, ev = period.fit["text"], period.eval["text"]
    s["baseline"] = baseline_scores(period.fit, ev)
    if "product" in needed:
        started = time.perf_counter()
        s["product"], noweak, info["product_weak_rows"] = product_scores(df, period, args.data_dir, hot)
        if noweak is not None:
            s["product_noweak"] = noweak
        print(f"  product model fitted in {time.perf_counter() - started:.0f}s", flush=True)
    if "project_prev" in needed:
        started = time.perf_counter()
        s["project_prev"] = project_prev_scores(period)
        print(f"  project_prev model fitted in {time.perf_counter() - started:.0f}s", flush=True)
        s["blend_prob"] = (s["baseline"] + s["project_prev"]) / 2
        s["blend_rank"] = (ranks(s["baseline"]) + ranks(s["project_prev"])) / 2
    if "char13_C16" in needed:
        s["char13_C16"] = char_scores(texts, period.fit, ev, STRONG_C, "balanced")
    if "char13_tuned" in needed:
        s["char13_tuned"], choices[period.name] = tuned_scores(df, period)
    if "char14_C16" in needed:
        s["char14_C16"] = char_scores(texts, period.fit, ev, STRONG_C, "balanced", ngrams=(1, 4))
    if "wordchar_C16" in needed:
        s["wordchar_C16"] = wordchar_scores(period)
    if "recency_C16" in needed:
        age = (period.start - period.fit["first_seen"]).dt.days.to_numpy()
        s["recency_C16"] = char_scores(
            texts, period.fit, ev, STRONG_C, "balanced", weights=0.5 ** (age / RECENCY_HALF_LIFE_DAYS)
        )
    if "selftrain_C16" in needed:
        s["selftrain_C16"] = selftrain_scores(period)
    if "rank_C16_prev" in needed:
        s["rank_C16_prev"] = (ranks(s["char13_C16"]) + ranks(s["project_prev"])) / 2
    if "hot_weak" in needed:
        weak = hot_weak_scores(period.fit, ev.tolist(), hot, period.start, exclude)
        s["hot_weak"] = s["char13_C16"] if weak is None else weak
    if "hot_stack" in needed:
        stacked, tag_only = hot_stack_scores(period, hot, exclude, args.seed)
        s["hot_stack"] = s["char13_C16"] if stacked is None else stacked
        if tag_only is not None:
            s["hot_tag_only"] = tag_only
    if "multinomial_C16" in needed:
        s["multinomial_C16"] = multinomial_scores(period.fit, ev)
    return s


def reference_comparisons(y_all, pooled_scores, groups, y_last, last_scores, args) -> list[dict]:
    """Each of COMPARISONS whose two variants ran (product_noweak: 2024H2 only), on the same
    bootstrap resamples as the tables against the baseline."""
    out = []
    for v, ref in COMPARISONS:
        if v not in last_scores or ref not in last_scores:
            continue
        row = {"variant": v, "reference": ref, "pooled": None}
        if v in pooled_scores:
            pair = {ref: pooled_scores[ref], v: pooled_scores[v]}
            row["pooled"] = paired_bootstrap(y_all, pair, groups, args.bootstrap, args.seed, ref)[v]
        pair = {ref: last_scores[ref], v: last_scores[v]}
        row["2024H2"] = paired_bootstrap(y_last, pair, np.zeros(len(y_last)), args.bootstrap, args.seed, ref)[v]
        out.append(row)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--data-dir", type=Path, default=default_data_dir(), help="datasets folder (default ../shared/datasets)"
    )
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write every figure here as JSON")
    p.add_argument(
        "--seed", type=int, default=0, help="bootstrap, learning-curve subsets and stacking folds (default 0)"
    )
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (default 1000)")
    p.add_argument("--lc-repeats", type=int, default=5, help="random subsets per learning-curve size (default 5)")
    p.add_argument("--no-project", action="store_true", help="skip project_prev and the variants built on it")
    p.add_argument("--no-learning-curve", action="store_true")
    p.add_argument(
        "--variants",
        default=None,
        metavar="A,B",
        help="run only these variants (and the baseline and what they are built on); also skips the C sweep, "
        "the weight and text-settings checks and the learning curve",
    )
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    started = time.perf_counter()
    variants = selected_variants(args.variants, args.no_project)
    full = args.variants is None

    df = load_labeled(args.data_dir)
    from qinglang.training.config import load_config
    from qinglang.trending.backtest import archive_pool

    need_pool = {"project_prev", "selftrain_C16"} & set(variants) or (
        "product" in variants and reads_unlabeled(load_config(None))
    )
    archive = load_archive_titles(args.data_dir) if need_pool else None
    hot = load_hot_history(args.data_dir)
    labeled_texts = set(df["text"])
    print(
        f"{len(df)} labeled titles ({(df['sample'] == 'uniform').sum()} uniform), "
        f"{'-' if archive is None else len(archive)} archive titles, {len(hot)} hot-history rows"
    )
    print(f"variants: {', '.join(variants)}", flush=True)

    per_period, scores_by_period, period_info, choices, periods = {}, {}, [], {}, []
    for spec in EVAL_PERIODS:
        period = make_period(df, *spec)
        if archive is not None:
            period.pool = archive_pool(archive, df, period.start)
        assert period.fit["first_seen"].max() < period.start <= period.eval["first_seen"].min()
        print(f"{period.name}: fit {len(period.fit)}, eval {len(period.eval)}, pool {len(period.pool)}", flush=True)
        info = {
            "name": period.name,
            "start": str(period.start.date()),
            "end": str(period.end.date()),
            "n_fit": len(period.fit),
            "n_eval": len(period.eval),
            "pool": len(period.pool) if archive is not None else None,
            "hot_rows": int(((hot["day"] < period.start) & ~hot["title"].isin(labeled_texts)).sum()),
        }
        scores = run_period(df, period, hot, args, choices, set(variants), info)
        scores = {v: scores[v] for v in VARIANTS if v in scores}
        periods.append(period)
        y = period.eval[CATEGORIES].to_numpy()
        info["positives"] = [int(y[:, j].sum()) for j in range(len(CATEGORIES))]
        period_info.append(info)
        scores_by_period[period.name] = (y, scores)
        for v, sc in scores.items():
            per_period.setdefault(v, {})[period.name] = ap_columns(y, sc)
    per_period = {v: per_period[v] for v in VARIANTS if v in per_period}

    names = [p["name"] for p in period_info]
    pooled_variants = [v for v in per_period if all(n in per_period[v] for n in names)]
    y_all = np.concatenate([scores_by_period[n][0] for n in names])
    groups = np.concatenate([[n] * len(scores_by_period[n][0]) for n in names])
    pooled_scores = {v: np.concatenate([scores_by_period[n][1][v] for n in names]) for v in pooled_variants}
    print("bootstrap ...", flush=True)
    boot_pooled = paired_bootstrap(y_all, pooled_scores, groups, args.bootstrap, args.seed)
    y_last, last_scores = scores_by_period[names[-1]]
    boot_last = paired_bootstrap(y_last, last_scores, np.zeros(len(y_last)), args.bootstrap, args.seed)
    comparisons = reference_comparisons(y_all, pooled_scores, groups, y_last, last_scores, args)
    lc = learning_curve(df, hot, args.lc_repeats, args.seed) if full and not args.no_learning_curve else []
    sweep = c_sweep(periods) if full else []
    sensitivity = hot_weight_sensitivity(df, hot) if full else {}
    text_settings = text_settings_check(df, periods, hot) if full else []

    result = {
        "categories": CATEGORIES,
        "variants": variants,
        "periods": period_info,
        "per_period": per_period,
        "bootstrap_pooled": boot_pooled,
        "bootstrap_2024H2": boot_last,
        "product_vs": comparisons,
        "tuned_choices": choices,
        "learning_curve": lc,
        "c_sweep": sweep,
        "hot_weight_sensitivity_2024H2": sensitivity,
        "text_settings": text_settings,
        "hot_tag_only_2024H2": {
            k: round(v, 3)
            for k, v in zip(CATEGORIES, per_period.get("hot_tag_only", {}).get(names[-1], []), strict=False)
        },
        "settings": {
            "seed": args.seed,
            "bootstrap": args.bootstrap,
            "strong_C": STRONG_C,
            "hot_weight": HOT_WEIGHT,
            "hot_positive": {k: sorted(v) for k, v in HOT_POSITIVE.items()},
            "hot_not_negative": {k: sorted(v) for k, v in HOT_NOT_NEGATIVE.items()},
            "self_training": SELF_TRAINING,
            "recency_half_life_days": RECENCY_HALF_LIFE_DAYS,
            "tuning_grid": [[C, cw or "none"] for C, cw in TUNING_GRID],
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    print_tables(result)
    print(f"\n{result['seconds']:.0f}s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")


if __name__ == "__main__":
    main()
