"""Time-ordered backtest of celebrity_hype and trivial with the shipped model's *real*
vectorizer fit: does it beat the plain char baseline on later trending titles?

benchmarks/trending_backtest.py fits the shipped config (`product`) on the labeled trending
titles only. The shipped training (qinglang.training.train) fits its vectorizer (jieba words
1-2 + chars 1-3, min_df 2, at most 200,000 word and 300,000 char features) on the texts of
every corpus of the config's data section, so its vocabulary and IDF differ. This script
adds that variant. Per period (2023H1, 2023H2, 2024H1, 2024H2; each period's `sample ==
"uniform"` titles are scored):

  baseline      trending_backtest.baseline_scores: char 1-3 TF-IDF + LogisticRegression(C=1)
  product       trending_backtest.product_scores: build_classifier(load_config()) for the
                two categories, fitted on the labeled titles first seen before the period
                (kind "title") plus the product's weak rows dated before it
  product_full  the same classifier and the same labeled and weak rows, plus the `train`
                split rows (data.fit_splits; --other-splits release: train + dev, as the
                shipped refit) of every other corpus of data.corpora (read as training reads
                them: build_dataset with the config's sampling), with their own kinds and
                unknown (NaN) labels for both categories. MultiCategoryClassifier.fit fits
                the vectorizer on every row and each category only on the rows where its
                label is known, so the other corpora shape the vocabulary and IDF only.
                Other-corpus rows whose text (dedup_key) is a labeled trending title are
                dropped (training merges them into one row); the script asserts that no
                trending title first seen in or after the period is fitted.

Both product variants leave out the phonetic map (an online_violence setting that needs the
archive), as trending_backtest.py does, and score with predict_proba(texts, "title"). The
script also refits `product` through its own fit path with no other-corpus rows and checks
that it reproduces trending_backtest.product_scores, so product and product_full differ only
in the extra texts.

Reports AP (sklearn average_precision_score) per period and pooled over the evaluated
titles, and paired bootstrap 95% intervals (titles resampled, seed 0) of AP(variant) -
AP(baseline) and AP(product_full) - AP(product), pooled and per period.

    .venv/bin/python benchmarks/trending_backtest_full.py --json runs/trending-backtest-full.json
    # --periods 2024H2 (any comma list), --data-dir DIR (default ../shared/datasets)
    # --trivial-heads: also the trivial head at other settings on the same full fit
    #   (TRIVIAL_HEADS: without topics, 100 or 300 topics, topic weight 0.5 or 2, C=4, C=64,
    #   word+char, recency weights, THUCNews hard-news titles as trivial negatives; each
    #   otherwise as shipped), its mean with the baseline, and
    #   `forward_choice`: per period the setting with the best mean AP on the earlier
    #   periods (the shipped one in the first), the only one of them chosen without
    #   looking at the period it is scored on (+12 min)

About 8 minutes on 2 cores (each product_full fit: ~60 s with the trivial topics, 63k-75k texts; 75k-87k with
--other-splits release). Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trending_backtest as tb  # noqa: E402
from _common import write_json  # noqa: E402

from qinglang.training.config import TopicsSpec  # noqa: E402

CATEGORIES = tb.CATEGORIES
TRENDING = "weibo_trending_labeled"
VARIANTS = ("baseline", "product", "product_full")
# --trivial-heads: trivial at other settings (model.categories.trivial), on the same full fit
# ("spec": changes to the config's trivial settings, which otherwise stay as shipped)
TRIVIAL_HEADS = {
    "trivial_no_topics": {"spec": {"topics": None}},
    "trivial_topics100": {"spec": {"topics": TopicsSpec(components=100, weight=1.0)}},
    "trivial_topics300": {"spec": {"topics": TopicsSpec(components=300, weight=1.0)}},
    "trivial_topics_w0.5": {"spec": {"topics": TopicsSpec(components=200, weight=0.5)}},
    "trivial_topics_w2": {"spec": {"topics": TopicsSpec(components=200, weight=2.0)}},
    "trivial_C4": {"spec": {"C": 4.0}},
    "trivial_C64": {"spec": {"C": 64.0}},
    "trivial_wordchar": {"spec": {"features": "all"}},
    "trivial_recency365": {"recency_days": tb.RECENCY_HALF_LIFE_DAYS},
    "trivial_news_negatives": {"news_negatives": True},
}
HEAD_VARIANTS = (*TRIVIAL_HEADS, "blend_baseline", "forward_choice")


def load_other_corpora(config, taxonomy, data_dir: Path, labeled: pd.DataFrame, splits: list[str]) -> pd.DataFrame:
    """The `splits` rows (training's fit_splits by default) of every corpus of data.corpora except the trending titles, as
    training assembles them (build_dataset with the config's sampling), minus the rows whose
    text is a labeled trending title (by dedup_key): text, source, kind."""
    from qinglang.data.dataset import Sampling, build_dataset
    from qinglang.data.schema import dedup_key

    corpora = list(config.data.corpora)
    assert TRENDING in corpora, f"{TRENDING} is not among data.corpora"
    d = config.data
    dataset = build_dataset(
        taxonomy,
        data_dir=data_dir,
        corpora=[c for c in corpora if c != TRENDING],
        sampling=Sampling(d.dev_fraction, d.test_fraction, d.max_rows_per_source),
    )
    table = dataset.table
    rows = table[table["split"].isin(splits)]
    assert rows[CATEGORIES].isna().all().all(), "another corpus labels celebrity_hype or trivial"
    trending_keys = set(labeled["text"].map(dedup_key))
    overlap = rows["text"].map(dedup_key).isin(trending_keys)
    print(f"other corpora: {len(rows)} {splits} rows, {int(overlap.sum())} of them labeled trending titles (dropped)")
    return rows.loc[~overlap, ["text", "source", "kind"]].reset_index(drop=True)


def fitted_product(config, taxonomy, period: tb.Period, others: pd.DataFrame, weak, extra: dict | None = None):
    """build_classifier(config) for the two categories fitted on `others` (labels unknown)
    followed by the period's labeled titles (kind "title") and the weak rows, in training's
    order (the trending corpus comes last in data.corpora). `extra` (--trivial-heads only):
    `trivial_negative`, a mask over `others` whose rows become trivial negatives, and
    `recency_days`, sample weights halving per that many days of a labeled title's age at
    the period's start (mean 1 over the labeled titles; other rows 1)."""
    from qinglang.data.taxonomy import TITLE

    extra = extra or {}
    n = len(others)
    texts = others["text"].tolist() + period.fit["text"].tolist()
    other_labels = pd.DataFrame(np.nan, index=range(n), columns=CATEGORIES)
    if extra.get("trivial_negative") is not None:
        other_labels.loc[extra["trivial_negative"], "trivial"] = 0.0
    labels = pd.concat([other_labels, period.fit[CATEGORIES].astype(float)], ignore_index=True)
    kinds = np.concatenate([others["kind"].to_numpy(dtype=object), np.full(len(period.fit), TITLE, dtype=object)])
    weights = None
    if extra.get("recency_days"):
        age = (period.start - period.fit["first_seen"]).dt.days.to_numpy()
        recency = 0.5 ** (age / extra["recency_days"])
        weights = np.concatenate([np.ones(n), recency / recency.mean()])
    pool = tb.product_pool(config, period)
    classifier = tb._two_category_classifier(config, taxonomy, pool)
    classifier.fit(texts, labels, kinds=kinds, weak=weak, sample_weight=weights, unlabeled=pool)
    return classifier


def news_negatives(data_dir: Path, others: pd.DataFrame) -> np.ndarray:
    """Mask over `others`: THUCNews titles of the hard-news classes (finance, realty, stocks,
    education, science, politics, sports), which the guideline's "not trivial" column names
    (real news, sports results, science); society, game and entertainment stay unknown. The
    classes come from the project's own reader of the corpus."""
    from qinglang.data.loaders.base import read_native

    hard = {"finance", "realty", "stocks", "education", "science", "politics", "sports"}
    frame = read_native("thucnews_titles", data_dir).frame
    hard_titles = set(frame.loc[frame["native"].map(lambda native: native[0] in hard), "text"])
    return ((others["source"] == "thucnews_titles") & others["text"].isin(hard_titles)).to_numpy()


def block_sizes(classifier) -> dict[str, int]:
    union = classifier.vectorizer_.named_steps["tfidf"]
    return {name: len(part.vocabulary_) for name, part in union.transformer_list}


def check_no_lookahead(df: pd.DataFrame, period: tb.Period, others: pd.DataFrame, weak) -> None:
    """No trending title first seen in or after the period is among the fitted texts: the
    labeled titles by first_seen, the other corpora and weak rows by text and dedup_key."""
    from qinglang.data.schema import dedup_key

    later = df[df["first_seen"] >= period.start]
    assert period.fit["first_seen"].max() < period.start <= period.eval["first_seen"].min()
    assert not set(period.fit["text"]) & set(later["text"]), "a later trending title among the fitted titles"
    extra = others["text"].tolist() + ([] if weak is None else list(weak.texts))
    assert not set(extra) & set(later["text"]), "a later trending title among the other corpora or weak rows"
    later_keys = set(later["text"].map(dedup_key))
    assert not {dedup_key(t) for t in extra} & later_keys, "a later trending title (dedup_key) in other rows"


def trivial_heads(config, taxonomy, period: tb.Period, others: pd.DataFrame, weak, scores: dict) -> None:
    """The full fit with trivial at each TRIVIAL_HEADS setting (celebrity_hype unchanged),
    and the mean of product_full's and the baseline's probabilities; added to `scores`.
    `others["hard_news"]` is news_negatives' mask, computed once in main."""
    from qinglang.data.taxonomy import TITLE
    from qinglang.training.config import CategoryModelSpec

    texts = period.eval["text"].tolist()
    j = CATEGORIES.index("trivial")
    for name, head in TRIVIAL_HEADS.items():
        changed = config.model_copy(deep=True)
        if "spec" in head:
            shipped = changed.model.categories.get("trivial", CategoryModelSpec())
            changed.model.categories["trivial"] = shipped.model_copy(update=head["spec"])
        extra = {"recency_days": head.get("recency_days")}
        if head.get("news_negatives"):
            extra["trivial_negative"] = others["hard_news"].to_numpy()
        out = scores["product_full"].copy()
        out[:, j] = fitted_product(changed, taxonomy, period, others, weak, extra).predict_proba(texts, TITLE)[:, j]
        scores[name] = out
        print(f"  {name}: trivial AP {tb.ap_columns(period.eval[CATEGORIES].to_numpy(), out)[j]:.3f}", flush=True)
    scores["blend_baseline"] = (scores["product_full"] + scores["baseline"]) / 2


def forward_choice(names: list[str], per_period: dict, scored: dict) -> dict[str, str]:
    """Per period, the trivial setting (product_full or a TRIVIAL_HEADS one) with the best
    mean AP over the earlier periods; product_full (the shipped config) in the first. Its
    scores are added to `scored` as `forward_choice`; returns the choice per period."""
    j, candidates, chosen = CATEGORIES.index("trivial"), ["product_full", *TRIVIAL_HEADS], {}
    for i, name in enumerate(names):
        earlier = names[:i]
        best = "product_full"
        if earlier:
            best = max(candidates, key=lambda v: (np.mean([per_period[v][n][j] for n in earlier]), v == "product_full"))
        chosen[name] = best
        out = scored[name]["product_full"].copy()
        out[:, j] = scored[name][best][:, j]
        scored[name]["forward_choice"] = out
    return chosen


def run_period(
    df, period: tb.Period, data_dir: Path, hot, others: pd.DataFrame, info: dict, heads: bool = False
) -> dict[str, np.ndarray]:
    from qinglang.data.taxonomy import TITLE, load_taxonomy
    from qinglang.training.config import load_config

    config = load_config(None)
    taxonomy = load_taxonomy(config.taxonomy)
    assert not config.data.source_weights, "source weights would change the fit"
    assert all(config.model.categories[k].fit_sources is None for k in CATEGORIES if k in config.model.categories)
    scores = {"baseline": tb.baseline_scores(period.fit, period.eval["text"])}
    started = time.perf_counter()
    scores["product"], _, info["product_weak_rows"] = tb.product_scores(df, period, data_dir, hot)
    info["product_seconds"] = round(time.perf_counter() - started, 1)

    weak = tb.product_weak_rows(config, taxonomy, data_dir, df, period, hot)
    check_no_lookahead(df, period, others, weak)
    eval_texts = period.eval["text"].tolist()
    own = fitted_product(config, taxonomy, period, others.iloc[:0], weak)
    assert np.allclose(own.predict_proba(eval_texts, TITLE), scores["product"]), "product not reproduced"
    info["product_features"] = block_sizes(own)

    started = time.perf_counter()
    full = fitted_product(config, taxonomy, period, others, weak)
    scores["product_full"] = full.predict_proba(eval_texts, TITLE)
    info["product_full_seconds"] = round(time.perf_counter() - started, 1)
    info["product_full_features"] = block_sizes(full)
    info["product_full_texts"] = len(others) + len(period.fit) + (0 if weak is None else len(weak.texts))
    # training leaves out weak titles labeled in any corpus; product_weak_rows only trending ones
    info["weak_rows_in_other_corpora"] = 0 if weak is None else len(set(weak.texts) & set(others["text"]))
    if heads:
        trivial_heads(config, taxonomy, period, others, weak, scores)
    print(
        f"  product_full: {info['product_full_texts']} texts, features {info['product_full_features']} "
        f"(product: {info['product_features']}), {info['product_full_seconds']:.0f}s",
        flush=True,
    )
    return scores


def bootstrap_rows(y, scores, groups, n_boot: int, seed: int) -> dict:
    """paired_bootstrap against the baseline (every variant) and product_full against product."""
    vs_base = tb.paired_bootstrap(y, scores, groups, n_boot, seed, reference="baseline")
    pair = {"product": scores["product"], "product_full": scores["product_full"]}
    vs_product = tb.paired_bootstrap(y, pair, groups, n_boot, seed, reference="product")
    rows = {f"{v} - baseline": vs_base[v] for v in scores if v != "baseline"}
    return rows | {"product_full - product": vs_product["product_full"]}


def print_tables(result: dict) -> None:
    names = [p["name"] for p in result["periods"]]
    print("\n## Periods\n")
    header = ["period", "fit titles", "eval titles", "celebrity_hype +", "trivial +", "weak rows (ch / tr)"]
    header += ["product_full texts", "product char / word features", "product_full char / word features"]
    rows = []
    for p in result["periods"]:
        pf, ff = p["product_features"], p["product_full_features"]
        rows.append(
            [
                p["name"],
                p["n_fit"],
                p["n_eval"],
                *p["positives"],
                " / ".join(map(str, p["product_weak_rows"])),
                p["product_full_texts"],
                f"{pf['char']} / {pf['word']}",
                f"{ff['char']} / {ff['word']}",
            ]
        )
    print(tb.md_table(header, rows))
    pooled = len(names) > 1
    for j, key in enumerate(CATEGORIES):
        print(f"\n## {key}: AP per period" + (", pooled, mean of periods" if pooled else "") + "\n")
        rows = []
        for v in result["per_period"]:
            row = [v, *(result["per_period"][v][n][j] for n in names)]
            if pooled:
                row += [result["pooled_ap"][v][j], float(np.mean([result["per_period"][v][n][j] for n in names]))]
            rows.append(row)
        print(tb.md_table(["variant", *names, *(["pooled", "mean"] if pooled else [])], rows))
    print("\n## Paired bootstrap: Δ AP with 95% interval and P(Δ>0)\n")
    header = ["scope", "comparison"]
    for key in CATEGORIES:
        header += [f"{key} Δ", "95% CI", "P(Δ>0)"]
    rows = []
    for scope, comparisons in result["bootstrap"].items():
        for name, d in comparisons.items():
            row = [scope, name]
            for key in CATEGORIES:
                b = d[key]
                row += [tb.signed(b["delta"]), tb.interval(b["ci"]), f"{b['p_better']:.3f}"]
            rows.append(row)
    print(tb.md_table(header, rows))
    if "pooled" in result["bootstrap"]:
        print("\nMean of per-period APs (titles resampled within periods):\n")
        rows = []
        for name, d in result["bootstrap"]["pooled"].items():
            row = [name]
            for key in CATEGORIES:
                row += [tb.signed(d[key]["mean_delta"]), tb.interval(d[key]["mean_ci"])]
            rows.append(row)
        print(tb.md_table(["comparison", *(x for k in CATEGORIES for x in (f"{k} Δ mean", "95% CI"))], rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=tb.default_data_dir(), help="datasets folder")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write every figure here as JSON")
    p.add_argument("--periods", default=None, metavar="A,B", help="periods to run (default: all four)")
    p.add_argument(
        "--other-splits",
        choices=("fit", "release"),
        default="fit",
        help="the other corpora's rows: data.fit_splits (default, train) or data.release_splits (train + dev, "
        "what the shipped refit reads)",
    )
    p.add_argument("--trivial-heads", action="store_true", help="also trivial at other settings and forward_choice")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (default 1000)")
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("jieba").setLevel(logging.WARNING)
    started = time.perf_counter()
    known = [name for name, *_ in tb.EVAL_PERIODS]
    wanted = list(known) if args.periods is None else [s.strip() for s in args.periods.split(",") if s.strip()]
    if unknown := sorted(set(wanted) - set(known)):
        raise SystemExit(f"unknown periods {unknown}; known: {', '.join(known)}")

    from qinglang.data.taxonomy import load_taxonomy
    from qinglang.training.config import load_config
    from qinglang.trending.backtest import archive_pool

    config = load_config(None)
    df = tb.load_labeled(args.data_dir)
    hot = tb.load_hot_history(args.data_dir)
    splits = list(config.data.release_splits if args.other_splits == "release" else config.data.fit_splits)
    others = load_other_corpora(config, load_taxonomy(config.taxonomy), args.data_dir, df, splits)
    by_source = others.groupby(["source", "kind"]).size()
    print("other-corpus rows by source and kind:\n" + by_source.to_string(), flush=True)
    if args.trivial_heads:
        others["hard_news"] = news_negatives(args.data_dir, others)
        print(f"THUCNews hard-news titles (trivial negatives in trivial_news_negatives): {others['hard_news'].sum()}")

    archive = tb.load_archive_titles(args.data_dir) if tb.reads_unlabeled(config) else None
    variants = VARIANTS + (HEAD_VARIANTS if args.trivial_heads else ())
    per_period, period_info, ys, scored = {v: {} for v in variants}, [], {}, {}
    for spec in tb.EVAL_PERIODS:
        if spec[0] not in wanted:
            continue
        period = tb.make_period(df, *spec)
        if archive is not None:  # training's data.unlabeled_archive {before: period start}
            period.pool = archive_pool(archive, df, period.start)
        print(f"{period.name}: fit {len(period.fit)}, eval {len(period.eval)}, pool {len(period.pool)}", flush=True)
        info = {"name": period.name, "start": str(period.start.date()), "end": str(period.end.date())}
        info |= {"n_fit": len(period.fit), "n_eval": len(period.eval)}
        scores = run_period(df, period, args.data_dir, hot, others, info, heads=args.trivial_heads)
        y = period.eval[CATEGORIES].to_numpy()
        info["positives"] = [int(c) for c in y.sum(axis=0)]
        period_info.append(info)
        ys[period.name], scored[period.name] = y, scores
        for v in variants:
            if v in scores:
                per_period[v][period.name] = tb.ap_columns(y, scores[v])

    names = [p["name"] for p in period_info]
    chosen = forward_choice(names, per_period, scored) if args.trivial_heads else {}
    for n in chosen:
        per_period["forward_choice"][n] = tb.ap_columns(ys[n], scored[n]["forward_choice"])
    boot = {}
    print("bootstrap ...", flush=True)
    if len(names) > 1:
        y_all = np.concatenate([ys[n] for n in names])
        groups = np.concatenate([[n] * len(ys[n]) for n in names])
        pooled_scores = {v: np.concatenate([scored[n][v] for n in names]) for v in variants}
        boot["pooled"] = bootstrap_rows(y_all, pooled_scores, groups, args.bootstrap, args.seed)
        pooled_ap = {v: tb.ap_columns(y_all, pooled_scores[v]) for v in variants}
    else:
        pooled_ap = {}
    for n in names:
        boot[n] = bootstrap_rows(ys[n], scored[n], np.zeros(len(ys[n])), args.bootstrap, args.seed)

    result = {
        "categories": CATEGORIES,
        "periods": period_info,
        "other_corpora_rows": {f"{s}/{k}": int(c) for (s, k), c in by_source.items()},
        "per_period": per_period,
        "pooled_ap": pooled_ap,
        "bootstrap": boot,
        "forward_choice_trivial": chosen,
        "settings": {"seed": args.seed, "bootstrap": args.bootstrap, "other_corpora_splits": splits},
        "seconds": round(time.perf_counter() - started, 1),
    }
    print_tables(result)
    if chosen:
        print(
            "\nforward_choice for trivial (best mean AP on the earlier periods): "
            + ", ".join(f"{n} {v}" for n, v in chosen.items())
        )
    print(f"\n{result['seconds']:.0f}s")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
