"""Shares validated across time: backtests of the share estimators on the labeled trending
titles (weibo_trending_labeled train.csv + dev.csv), ordered by the day each title was
first seen on the list.

For each period P (2023H1, 2023H2, 2024H1, 2024H2), a model that never saw P is fitted on
the labeled titles first seen before P starts (uniform and enriched rows): the default
config's classifier (`build_classifier(load_config(), taxonomy)`) for the categories with at
least `min_positives` positives and negatives among its fit rows, so celebrity_hype and
trivial in every period and superstition once it has enough positive titles. Two recipes
(`BacktestSpec.fit`): "titles", on the labeled titles only (fast; no post or comment
corpora, no weak labels); "full", as `qinglang train` fits the shipped model (`FullFit`:
the other corpora's `data.fit_splits` rows first, so they shape the vocabulary and IDF and
join the fit of the categories they label, and training's weak labels with `before` moved
to P's first day; the harmful categories are then fitted from the other corpora too, and
estimated with pcc, as the audit does: their title validation has no positives). No archive titles unless `self_training` (then the
categories the config self-trains, or gives topics, read the archive titles first seen
before P; a config with topics needs it, or those categories are fitted without them). Each quantifier (trending/prevalence.py) is fitted
on that model's out-of-fold title validation and estimates P's share from P's `uniform`
rows (a uniform draw of the distinct titles first seen in P: a share of distinct titles),
which is compared with the labeled share of the same rows. Each row also says how finely
that labeled share can check an estimate at all (`calibrated_sd`, `calibrated_chance`: if
the period model's probabilities were perfectly calibrated, how far the labeled share would
lie from their mean, and the chance it is within the target; `resolution` gives that chance
for every period at once; `calibration_spread` checks the premise on the labeled titles):
a few hundred titles scored with probabilities that are not sharp leave a few points of
noise that no estimator can remove.

Harmful categories other than superstition have (almost) no positive titles, so no period
model; their labeled share is 0 or nearly. With `shipped`, a model fitted on the train
split only (never on dev, checked), its estimates on the dev period (2024H2) are added as
`model = shipped` rows: the only honest out-of-time estimate of those categories.

Every period model is fitted once per seed in `seeds` (the seed draws its cross-validation
folds, so its out-of-fold validation and calibration, which the quantifiers are fitted on):
one seed's table can flatter an estimator by luck (HDy's histograms of a few hundred
validation positives move with the folds). The default estimator is the one with the
smallest worst abs error over the periods and the `choose_on` categories (celebrity_hype,
trivial), period models only, averaged over the seeds; ties go to the smaller mean error,
then to the order of ESTIMATORS; the same rule per category gives `by_category`, which the
audit uses, and choosing on all periods but one measures that choice on the left-out one
(`held_out`). Where a category cannot use an estimator (too few
validation positives, or TPR - FPR too small to adjust by) the row holds pcc's estimate,
as the audit would (`used`). Fits and bootstraps are seeded: the same data and seeds give
the same table and choice.
`benchmarks/bench_share_backtest.py` runs this and writes the JSON that
`qinglang audit --backtest FILE` prints and takes its default estimator from."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qinglang.data.errors import DataError
from qinglang.data.taxonomy import TITLE, Taxonomy
from qinglang.models.bundle import ModelBundle
from qinglang.models.multilabel import MultiCategoryClassifier
from qinglang.trending.prevalence import (
    ESTIMATORS,
    Bootstrap,
    RowGroups,
    estimate_shares,
    estimator_plan,
    model_fits,
)

LABELED_FOLDER = "weibo_trending_labeled"
PERIODS = (
    ("2023H1", "2023-01-01", "2023-07-01"),
    ("2023H2", "2023-07-01", "2024-01-01"),
    ("2024H1", "2024-01-01", "2024-07-01"),
    ("2024H2", "2024-07-01", "2025-01-01"),
)
CHOOSE_ON = ("celebrity_hype", "trivial")
TARGETS = {"low-value": 0.03, "harmful": 0.01}  # abs error of a share, per period
FIT_RECIPES = ("titles", "full")
BACKTEST_VERSION = 1
TABLE_COLUMNS = [
    "period",
    "seed",
    "category",
    "group",
    "model",
    "estimator",
    "used",
    "estimate",
    "estimate_low",
    "estimate_high",
    "labeled",
    "labeled_low",
    "labeled_high",
    "labeled_positives",
    "rows",
    "abs_error",
    "within_target",
    "calibrated_sd",
    "calibrated_chance",
    "calibration_spread",
]


@dataclass(frozen=True)
class BacktestSpec:
    """Which periods (name, first day, day after the last), which categories choose the
    default estimator, the seeds of the period models' folds (and of the bootstraps), the
    positives (and negatives) a category needs to be fitted, bootstrap replicates, the
    period the shipped model never saw, and whether the categories the config self-trains
    do so (on archive titles first seen before the period)."""

    periods: tuple[tuple[str, str, str], ...] = PERIODS
    choose_on: tuple[str, ...] = CHOOSE_ON
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    min_positives: int = 10
    n_boot: int = 200
    shipped_period: str = "2024H2"
    self_training: bool = False  # also topics: both read the pre-period archive titles
    fit: str = "titles"  # FIT_RECIPES: "titles" (labeled titles only) or "full" (as `qinglang train` fits)


@dataclass
class Period:
    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    fit: pd.DataFrame  # labeled titles first seen before `start`
    evaluate: pd.DataFrame  # uniform titles first seen in [start, end)


@dataclass
class BacktestResult:
    table: pd.DataFrame
    periods: list[dict]
    choice: dict
    spec: BacktestSpec
    seconds: dict[str, float] = field(default_factory=dict)
    resolution: dict = field(default_factory=dict)  # see resolution()

    def to_json(self) -> dict:
        return {
            "version": BACKTEST_VERSION,
            "spec": asdict(self.spec),
            "targets": TARGETS,
            "periods": self.periods,
            "choice": self.choice,
            "resolution": self.resolution,
            "table": [{k: _plain(v) for k, v in rec.items()} for rec in self.table.to_dict("records")],
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
        }


def _plain(v):
    """JSON-safe: NaN → None, numpy scalars → Python."""
    if isinstance(v, (np.floating, float)):
        return None if math.isnan(v) else round(float(v), 6)
    if isinstance(v, (np.integer, np.bool_)):
        return v.item()
    return v


def load_labeled_titles(data_dir: Path, taxonomy: Taxonomy) -> pd.DataFrame:
    """train.csv and dev.csv of the labeled trending set: text, first_seen, sample, split
    and one 0/1 column per taxonomy category (every category is known for every row)."""
    frames = []
    for split in ("train", "dev"):
        path = Path(data_dir) / LABELED_FOLDER / f"{split}.csv"
        if not path.is_file():
            raise DataError("labeled trending titles not found", file=str(path))
        raw = pd.read_csv(path, keep_default_na=False, encoding="utf-8-sig", dtype=str)
        missing = [c for c in ("text", "first_seen", "sample", "labels") if c not in raw.columns]
        if missing:
            raise DataError(f"missing columns {missing}", file=str(path))
        frames.append(raw.assign(split=split))
    rows = pd.concat(frames, ignore_index=True)
    rows["text"] = rows["text"].str.strip()
    rows["first_seen"] = pd.to_datetime(rows["first_seen"], errors="coerce")
    if rows["first_seen"].isna().any():
        raise DataError("rows without a valid first_seen date", file=str(Path(data_dir) / LABELED_FOLDER))
    sets = rows["labels"].map(lambda s: {k.strip() for k in s.split(";") if k.strip()})
    unknown = sorted(set().union(*sets) - set(taxonomy.keys))
    if unknown:
        raise DataError(f"labels {unknown} are not taxonomy categories", file=str(Path(data_dir) / LABELED_FOLDER))
    for key in taxonomy.keys:
        rows[key] = sets.map(lambda s, key=key: int(key in s)).astype(np.int8)
    return rows.sort_values(["first_seen", "text"], kind="stable").reset_index(drop=True)


def split_period(labeled: pd.DataFrame, name: str, start: str, end: str) -> Period:
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    seen = labeled["first_seen"]
    fit = labeled[seen < s].reset_index(drop=True)
    evaluate = labeled[(seen >= s) & (seen < e) & (labeled["sample"] == "uniform")].reset_index(drop=True)
    return Period(name, s, e, fit, evaluate)


@dataclass(frozen=True)
class FullFit:
    """What fitting a period model as `qinglang train` fits the shipped one needs besides
    the labeled titles: the training config, the `data.fit_splits` rows of every other corpus
    of `data.corpora` (text, kind and every category's label, NaN where unknown; minus the
    rows whose text is a labeled trending title), and the data directory (weak labels).
    Their texts shape the vectorizer's vocabulary and IDF; their labels join the fit of the
    categories they label. `labeled`: every labeled title's text (train and dev, uniform and
    enriched), kept out of the weak rows as training keeps them out. Left out: `data.files`
    and the phonetic map (online_violence); a config that sets `data.source_weights` or a
    category's `fit_sources` is refused, as the recipe does not apply them."""

    config: object  # training.config.TrainConfig
    others: pd.DataFrame
    data_dir: Path
    labeled: pd.Series = field(default_factory=lambda: pd.Series([], dtype=object))


def full_fit(data_dir: Path, taxonomy: Taxonomy, labeled: pd.DataFrame, config=None) -> FullFit:
    """The FullFit of `config` (default: the shipped training config) for `labeled` titles."""
    from qinglang.data.dataset import Sampling, build_dataset
    from qinglang.data.schema import dedup_key
    from qinglang.training.config import load_config

    config = config or load_config(None)
    d = config.data
    by_source = sorted(k for k, v in (config.model.categories or {}).items() if getattr(v, "fit_sources", None))
    if d.source_weights or by_source:
        raise ValueError(
            "the full backtest recipe does not apply data.source_weights or per-category fit_sources "
            f"(set here: {', '.join(['source_weights'] * bool(d.source_weights) + [f'{k}.fit_sources' for k in by_source])})"
        )
    corpora = [c for c in d.corpora if c != LABELED_FOLDER]
    sampling = Sampling(d.dev_fraction, d.test_fraction, d.max_rows_per_source)
    table = build_dataset(taxonomy, data_dir=data_dir, corpora=corpora, sampling=sampling).table
    rows = table[table["split"].isin(list(d.fit_splits))]
    rows = rows[~rows["text"].map(dedup_key).isin(set(labeled["text"].map(dedup_key)))]
    others = rows[["text", "kind", *taxonomy.keys]].reset_index(drop=True)
    return FullFit(config, others, Path(data_dir), labeled["text"].reset_index(drop=True))


def fit_period_model(
    period: Period,
    taxonomy: Taxonomy,
    spec: BacktestSpec,
    pool: list[str] | None = None,
    seed: int = 0,
    full: FullFit | None = None,
) -> MultiCategoryClassifier | None:
    """The default config's classifier fitted on the period's earlier titles (as kind
    title), for the categories with enough positives and negatives there; None if none.
    `pool`: unlabeled titles for the config's self-training (None: no self-training).
    `full`: fit as training does, with the other corpora's rows first and the weak labels
    dated before the period."""
    from qinglang.training.config import load_config
    from qinglang.training.train import build_classifier

    fit = period.fit
    keys = _fitted_keys(fit if full is None else pd.concat([full.others, fit]), taxonomy, spec.min_positives)
    if not keys:
        return None
    classifier = build_classifier(full.config if full else load_config(), taxonomy, unlabeled=pool)
    params = classifier.get_params()["category_params"] or {}
    classifier.set_params(
        categories=keys,
        category_params={k: v for k, v in params.items() if k in keys},
        min_positives=spec.min_positives,
        random_state=seed,
    )
    texts, Y = fit["text"].tolist(), fit[keys].to_numpy(dtype=float)
    kinds = np.full(len(fit), TITLE, dtype=object)
    weak = None
    if full is not None:
        texts = full.others["text"].tolist() + texts
        Y = np.vstack([full.others[keys].to_numpy(dtype=float), Y])
        kinds = np.concatenate([full.others["kind"].to_numpy(dtype=object), kinds])
        weak = period_weak_rows(full, taxonomy, period, keys)
    return classifier.fit(texts, Y, unlabeled=pool, kinds=kinds, weak=weak)


def _fitted_keys(rows: pd.DataFrame, taxonomy: Taxonomy, min_positives: int) -> list[str]:
    """The categories with at least `min_positives` positives and as many negatives among
    the rows where they are known (NaN: unknown)."""
    keys = []
    for key in taxonomy.keys:
        known = rows[key].dropna()
        if min(int(known.sum()), int(len(known) - known.sum())) >= min_positives:
            keys.append(key)
    return keys


def period_weak_rows(full: FullFit, taxonomy: Taxonomy, period: Period, keys: list[str]):
    """Training's weak rows (data.weak_labels) dated before the period's first day, minus
    every labeled text, cut to `keys`; None without weak labels or rows."""
    from qinglang.data.dataset import Dataset
    from qinglang.models.multilabel import WeakRows
    from qinglang.training import train

    spec = full.config.data.weak_labels
    if spec is None:
        return None
    moved = spec.model_copy(update={"before": period.start.date()})
    config = full.config.model_copy(update={"data": full.config.data.model_copy(update={"weak_labels": moved})})
    known = pd.concat(
        [full.others[["text"]], full.labeled.to_frame("text"), period.fit[["text"]], period.evaluate[["text"]]],
        ignore_index=True,
    )
    data = train.RunData(taxonomy, Dataset(known, {}, {}, []), "backtest", period.fit, period.evaluate)
    weak, _ = train.weak_rows(config, full.data_dir, data, release=False)
    if weak is None:
        return None
    Y = weak.Y[:, [taxonomy.keys.index(k) for k in keys]]
    keep = ~np.isnan(Y).all(axis=1)
    texts = [t for t, k in zip(weak.texts, keep, strict=True) if k]
    return WeakRows(texts, Y[keep], weak.kind, weak.weight) if texts else None


def archive_pool(archive_titles: pd.DataFrame, labeled: pd.DataFrame, before: pd.Timestamp) -> list[str]:
    """Archive titles first seen before `before`, minus every labeled title (as training's
    data.unlabeled_archive reads them)."""
    seen = pd.to_datetime(archive_titles["first_seen"])
    keep = (seen < before) & ~archive_titles["title"].isin(set(labeled["text"]))
    return archive_titles.loc[keep, "title"].tolist()


def period_records(period: Period, fitted: tuple[MultiCategoryClassifier, str, int], taxonomy: Taxonomy, spec) -> list:
    """One record per (trained category, estimator): the estimate of the period's uniform
    rows by `classifier` (labelled `model` and `seed` in the table) against their labeled
    share."""
    classifier, model, seed = fitted
    rows = period.evaluate
    proba = classifier.predict_proba(rows["text"].tolist(), TITLE)
    fits = model_fits(classifier)
    one_group = RowGroups(np.zeros(len(rows), dtype=int), 1)
    records = []
    for j, key in enumerate(classifier.categories_):
        if not classifier.trained_[j]:
            continue
        part = fits.subset([j])
        sd, chance = calibrated_resolution(proba[:, j], target_of(taxonomy[key].group))
        spread = calibration_spread(rows[key].to_numpy(dtype=float), proba[:, j])
        for name in ESTIMATORS:
            used = estimator_plan(name, part)[0]
            est = estimate_shares(used, part, proba[:, [j]], one_group, Bootstrap(spec.n_boot, seed)).estimate
            shares = (est.share[0, 0], est.low[0, 0], est.high[0, 0])
            record = _record(period, key, taxonomy, (model, name, used), shares)
            extra = {"seed": seed, "calibrated_sd": sd, "calibrated_chance": chance, "calibration_spread": spread}
            records.append(record | extra)
    return records


def target_of(group: str) -> float:
    """The abs error a share of a category in `group` may have (TARGETS; low-value's for any other group)."""
    return TARGETS.get(group, TARGETS["low-value"])


def calibration_spread(labels: np.ndarray, proba: np.ndarray) -> float:
    """Whether calibrated_resolution's premise holds on the period's labeled titles: the
    squared error sum((y - p)^2) over the variance the probabilities claim, sum(p (1 - p)).
    About 1 when each title's probability is right; below 1 when the probabilities are less
    sharp than the labels (the resolution then overstates the noise), above 1 when they are
    sharper (it understates it). NaN without rows or variance."""
    y, p = np.asarray(labels, dtype=float), np.asarray(proba, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p)
    claimed = float((p[keep] * (1 - p[keep])).sum())
    return float(((y[keep] - p[keep]) ** 2).sum() / claimed) if claimed > 0 else math.nan


def calibrated_resolution(proba: np.ndarray, target: float) -> tuple[float, float]:
    """How finely a period's labeled share can check a share estimate from these
    probabilities: if they were perfectly calibrated (each title positive with its own
    probability, independently), the labeled count is Poisson-binomial around their sum.
    Returns the standard deviation of the labeled share around the mean probability, and
    the chance (exact, by the Poisson-binomial distribution) that it lies within `target`
    of it. A period of 180 titles scored with probabilities near its share cannot tell a
    3-point miss from a perfect estimate: this says how often even that estimate misses."""
    p = np.asarray(proba, dtype=float)
    p = p[np.isfinite(p)]
    n = len(p)
    if n == 0:
        return math.nan, math.nan
    counts = np.zeros(n + 1)
    counts[0] = 1.0
    for i, q in enumerate(p, start=1):  # distribution of the number of positives, one title at a time
        counts[1 : i + 1] = counts[1 : i + 1] * (1 - q) + counts[:i] * q
        counts[0] *= 1 - q
    share = np.arange(n + 1) / n
    within = np.abs(share - p.mean()) <= target + 1e-12
    return float(math.sqrt((p * (1 - p)).sum()) / n), float(min(1.0, counts[within].sum()))


def _record(period: Period, key: str, taxonomy: Taxonomy, how: tuple[str, str, str], shares: tuple) -> dict:
    model, name, used = how
    labels = period.evaluate[key].to_numpy()
    labeled = float(labels.mean()) if len(labels) else math.nan
    low, high = _wilson(int(labels.sum()), len(labels))
    group = taxonomy[key].group
    error = abs(shares[0] - labeled)
    return {
        "period": period.name,
        "category": key,
        "group": group,
        "model": model,
        "estimator": name,
        "used": used,
        "estimate": shares[0],
        "estimate_low": shares[1],
        "estimate_high": shares[2],
        "labeled": labeled,
        "labeled_low": low,
        "labeled_high": high,
        "labeled_positives": int(labels.sum()),
        "rows": len(labels),
        "abs_error": error,
        "within_target": bool(error <= target_of(group) + 1e-12) if np.isfinite(error) else None,
    }


def _wilson(positives: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson 95% interval of a binomial share: how far the labeled share of a sample of
    this size can lie from the period's true share."""
    if n == 0:
        return math.nan, math.nan
    p = positives / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def run_backtest(
    labeled: pd.DataFrame,
    taxonomy: Taxonomy,
    spec: BacktestSpec,
    shipped: ModelBundle | None = None,
    archive_titles: pd.DataFrame | None = None,
    full: FullFit | None = None,
) -> BacktestResult:
    """The backtest table of every period and seed (and the shipped model's dev-period
    rows), and the estimator it chooses. `archive_titles` (title, first_seen) are needed
    with `spec.self_training`, `full` (full_fit) with `spec.fit == "full"`."""
    if spec.self_training and archive_titles is None:
        raise ValueError("self_training needs the archive titles")
    if spec.fit not in FIT_RECIPES:
        raise ValueError(f"unknown fit recipe {spec.fit!r}; choose one of {', '.join(FIT_RECIPES)}")
    if (spec.fit == "full") != (full is not None):
        raise ValueError('spec.fit "full" needs the FullFit (full_fit), and only it')
    if shipped is not None:
        check_unseen_dev(shipped)
    records, periods, seconds = [], [], {}
    for name, start, end in spec.periods:
        period = split_period(labeled, name, start, end)
        started = time.perf_counter()
        pool = archive_pool(archive_titles, labeled, period.start) if spec.self_training else None
        trained = []
        for seed in spec.seeds:
            classifier = fit_period_model(period, taxonomy, spec, pool, seed, full)
            if classifier is not None:
                trained = [k for k, t in zip(classifier.categories_, classifier.trained_, strict=True) if t]
                records += period_records(period, (classifier, "period", seed), taxonomy, spec)
        seconds[f"fit {name}"] = time.perf_counter() - started
        if shipped is not None and name == spec.shipped_period:
            records += period_records(period, (shipped.classifier, "shipped", spec.seeds[0]), taxonomy, spec)
        records += _unmodelled(period, taxonomy, {r["category"] for r in records if r["period"] == name})
        periods.append(_period_info(period, trained, taxonomy))
    table = pd.DataFrame.from_records(records).reindex(columns=TABLE_COLUMNS)
    choice = choose_estimator(table, spec.choose_on)
    return BacktestResult(table, periods, choice, spec, seconds, resolution(table, spec.choose_on))


def _unmodelled(period: Period, taxonomy: Taxonomy, covered: set[str]) -> list[dict]:
    """A row (no estimate) for every category no model estimated in the period, so its
    labeled share is still shown."""
    nan = (math.nan, math.nan, math.nan)
    return [_record(period, k, taxonomy, ("none", "", ""), nan) for k in taxonomy.keys if k not in covered]


def _period_info(period: Period, trained: list[str], taxonomy: Taxonomy) -> dict:
    return {
        "name": period.name,
        "start": str(period.start.date()),
        "end": str(period.end.date()),
        "fit_titles": len(period.fit),
        "fit_positives": {k: int(period.fit[k].sum()) for k in taxonomy.keys if period.fit[k].sum()},
        "uniform_titles": len(period.evaluate),
        "trained": trained,
    }


def choose_estimator(table: pd.DataFrame, categories: tuple[str, ...]) -> dict:
    """The estimator with the smallest worst abs error over periods × `categories` (period
    models only), averaged over seeds; then the smallest mean error; then ESTIMATORS
    order. An estimator missing any (seed, period, category) cannot be chosen.
    `by_category`: the same rule for each category alone (the audit uses it per category);
    `held_out`: for each category and period, the estimator that rule picks from the other
    periods and its error in the left-out one, so the choice is not scored on its own
    errors (the later periods' models did see the left-out period's titles, and the choice
    looks ahead); `forward`: the same with the choice made on the earlier periods only, as
    a choice made today meets the next period."""
    rows = table[(table["model"] == "period") & table["category"].isin(categories)]
    worst, mean, by_seed = _errors(rows)
    best = _best(worst, mean)
    if best is None:
        raise ValueError(f"no estimator has a backtest error for every period of {', '.join(categories)}")
    seeds = len(rows["seed"].unique())
    by_category = {k: _best(*_errors(rows[rows["category"] == k])[:2]) or best for k in categories}
    return {
        "estimator": best,
        "rule": f"smallest worst-period abs error over {', '.join(categories)} (period models), averaged over "
        f"{seeds} seeds; then smallest mean error",
        "categories": list(categories),
        "worst_abs_error": _rounded(worst),
        "mean_abs_error": _rounded(mean),
        "worst_abs_error_by_seed": by_seed,
        "by_category": by_category,
        "held_out": _held_out(rows, categories),
        "forward": _held_out(rows, categories, forward=True),
    }


def _errors(rows: pd.DataFrame) -> tuple[dict, dict, dict]:
    """Per estimator: the worst abs error over the rows' (period, category) cells averaged
    over seeds, the mean abs error, and the worst per seed; inf / None for an estimator
    missing a cell."""
    cells = rows[["seed", "period", "category"]].drop_duplicates()
    worst, mean, by_seed = {}, {}, {}
    for name in ESTIMATORS:
        errors = rows[rows["estimator"] == name]
        complete = len(errors) == len(cells) and len(cells) > 0 and errors["abs_error"].notna().all()
        per_seed = errors.groupby("seed")["abs_error"].max()
        worst[name] = float(per_seed.mean()) if complete else math.inf
        mean[name] = float(errors["abs_error"].mean()) if complete else math.inf
        by_seed[name] = [None if pd.isna(v) else round(float(v), 6) for v in per_seed] if complete else None
    return worst, mean, by_seed


def _best(worst: dict, mean: dict) -> str | None:
    best = min(ESTIMATORS, key=lambda n: (worst[n], mean[n], ESTIMATORS.index(n)))
    return best if math.isfinite(worst[best]) else None


def _held_out(rows: pd.DataFrame, categories: tuple[str, ...], forward: bool = False) -> list[dict]:
    """Leave one period out: per category, the estimator chosen on the other periods (with
    `forward`, on the periods before it; the periods are in time order) and its mean (and
    largest) abs error over seeds in the left-out period."""
    out = []
    for key in categories:
        cat = rows[rows["category"] == key]
        periods = list(cat["period"].unique())
        for i, period in enumerate(periods):
            if forward and i == 0:
                continue
            basis = cat[cat["period"].isin(periods[:i])] if forward else cat[cat["period"] != period]
            chosen = _best(*_errors(basis)[:2])
            errors = cat[(cat["period"] == period) & (cat["estimator"] == chosen)]["abs_error"]
            if chosen is None or errors.empty:
                continue
            out.append(
                {
                    "category": key,
                    "period": period,
                    "estimator": chosen,
                    "abs_error": round(float(errors.mean()), 6),
                    "max_abs_error": round(float(errors.max()), 6),
                }
            )
    return out


def _rounded(values: dict[str, float]) -> dict[str, float | None]:
    return {n: (None if math.isinf(v) else round(v, 6)) for n, v in values.items()}


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (period, category, model, estimator): the estimate's mean over seeds,
    the mean and largest abs error, and in how many seeds the target was met."""
    rows = table[table["model"] != "none"]
    keys = ["period", "category", "group", "model", "estimator"]
    out = rows.groupby(keys, sort=False).agg(
        estimate=("estimate", "mean"),
        used=("used", "first"),
        labeled=("labeled", "first"),
        labeled_low=("labeled_low", "first"),
        labeled_high=("labeled_high", "first"),
        labeled_positives=("labeled_positives", "first"),
        rows=("rows", "first"),
        abs_error=("abs_error", "mean"),
        max_abs_error=("abs_error", "max"),
        seeds=("abs_error", "size"),
        seeds_within=("within_target", lambda w: int(sum(bool(x) for x in w if x is not None and x == x))),
    )
    return out.reset_index()


def resolution(table: pd.DataFrame, categories: tuple[str, ...]) -> dict:
    """Per category, the chance that a perfectly calibrated estimate (the period models'
    probabilities taken as the truth; see calibrated_resolution) meets the target in each
    period (mean over seeds) and in every period at once (their product: periods are
    independent samples), with the mean calibration_spread per period (about 1: the premise
    holds). A target this chance makes unlikely cannot be shown met on these labels,
    whatever the estimator; it takes sharper probabilities or more labeled titles. Empty for
    a table without the columns (a file written before they existed)."""
    if "calibrated_chance" not in table:
        return {}
    rows = table[(table["model"] == "period") & table["category"].isin(categories)]
    out = {}
    for key in categories:
        per = rows[rows["category"] == key].groupby("period", sort=False)
        chance = per["calibrated_chance"].mean().dropna()
        if not chance.empty:
            out[key] = {
                "per_period": {p: round(float(v), 4) for p, v in chance.items()},
                "every_period": round(float(chance.prod()), 4),
            }
            if "calibration_spread" in rows:
                out[key]["spread"] = {
                    p: round(float(v), 4) for p, v in per["calibration_spread"].mean().dropna().items()
                }
    return out


def write_backtest(result: BacktestResult, path: Path, extra: dict | None = None) -> Path:
    """The backtest as JSON (with `extra` keys, e.g. the machine it ran on)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**result.to_json(), **(extra or {})}
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False, allow_nan=False), "utf-8")
    return path


def load_backtest(path: Path) -> dict:
    """A backtest file written by `write_backtest`, checked enough to print and use."""
    path = Path(path)
    try:
        body = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the backtest file: {exc}", file=str(path)) from exc
    ok = isinstance(body, dict) and body.get("version") == BACKTEST_VERSION and isinstance(body.get("table"), list)
    choice = body.get("choice") if ok else None
    named = [] if not isinstance(choice, dict) else _named_estimators(choice)
    if not ok or not named or any(n not in ESTIMATORS for n in named):
        raise DataError(
            f"not a share backtest file (version {BACKTEST_VERSION}, with a table and a chosen estimator)",
            file=str(path),
        )
    body["path"] = str(path)
    return body


def _named_estimators(choice: dict) -> list:
    """Every estimator a backtest choice names (its by_category and its held-out and forward
    records too); a malformed part yields None, which no estimator is."""
    by_category = choice.get("by_category") or {}
    records = [*(choice.get("held_out") or []), *(choice.get("forward") or [])]
    if not isinstance(by_category, dict) or not all(isinstance(r, dict) for r in records):
        return [None]
    need = ("category", "period", "estimator", "abs_error")
    if any(any(k not in r for k in need) for r in records):
        return [None]
    return [choice.get("estimator"), *by_category.values(), *(r["estimator"] for r in records)]


def check_unseen_dev(bundle: ModelBundle) -> None:
    """Checks against the dev split need a model that never saw it; say so before any work."""
    fitted_on = set((bundle.metadata.get("data_config") or {}).get("fit_splits", []))
    if "dev" in fitted_on:
        raise DataError(
            "this model was fitted on the dev split, so checking it against the dev split's labels would not be honest "
            "(audit without --data-dir; backtest without --model)"
        )
