"""Simulated labeling loop (issue 18): does choosing what to label beat labeling at random?

On corpora whose labels exist, the loop hides the labels of a pool, starts from 50 labels
drawn at random, and adds batches of 50 chosen by each strategy, "labeling" a row by
revealing its label. After every batch it refits the model on the labeled rows and scores
a fixed held-out split that is never selected from (average precision, AP). Tasks:

  trending/celebrity_hype, trending/trivial
      pool: weibo_trending_labeled train titles; held out: its dev titles (a later period)
  cold/online_violence (COLD `offensive`, the category COLD speaks for in the taxonomy)
      pool: a fixed seeded sample of COLD train rows (--cold-pool, 6000); held out: COLD test

Both corpora are read with `build_dataset` (the training table), which folds duplicate
texts and keeps the most held-out split of a text, so no held-out text is in a pool.

The ranking functions are the product's (`qinglang.labeling.strategies`), mixed as
`qinglang label select` mixes them: each active batch takes round(50 x 0.2) = 10 rows drawn
uniformly from the rest of the pool (`DEFAULT_RANDOM_SHARE`) and 40 from the strategy's
order, and every part skips texts that are near-duplicates of labeled ones
(`labeling.pool.NearDuplicateFilter`, as `label select` does). Strategies:

  random           the whole batch at random
  uncertainty      rows whose score is nearest the threshold (`uncertainty_order`)
  likely-positive  highest score first (`likely_positive_order`)
  seed-terms       celebrity_hype only: a cold start. The first 50 labels come from
                   `seed_term_order` over `seed_hits` of a few seed terms (plus the random
                   share) instead of at random; later batches by uncertainty.

The model inside the loop: the training vectorizer (`training.train.build_classifier` with
the default config: jieba words + characters TF-IDF, normaliser with the phonetic map built
as training builds it) fitted once on the pool texts (no labels involved), then per step a
`LogisticRegression(C=4, class_weight="balanced", solver="liblinear")` on the labeled rows,
as each category's model is fitted in training, without the cross-validated calibration.
The uncertainty threshold is 0.5 of that balanced model (decision value 0), which stands
in for the calibrated operating point `label select` uses.

Per task it prints the mean AP (and the spread over seeds) at 50, 200, 500 labels and the
final count, and for each active strategy the labels it needs for its mean curve to reach
random's mean final AP, and that count over random's final count (the ratio: < 1 means
fewer labels than random).

    .venv/bin/python benchmarks/bench_active_learning.py --seeds 5 \\
        --json runs/bench-active-learning.json --plot docs/img/active_learning.png
    .venv/bin/python benchmarks/bench_active_learning.py --quick     # smoke run, ~20 s
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, parser, write_json
from scipy import sparse
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from qinglang.data.dataset import build_dataset
from qinglang.data.taxonomy import load_taxonomy
from qinglang.labeling.pool import NearDuplicateFilter
from qinglang.labeling.select import DEFAULT_RANDOM_SHARE
from qinglang.labeling.strategies import (
    likely_positive_order,
    random_order,
    seed_hits,
    seed_term_order,
    uncertainty_order,
)

# Seed terms for celebrity_hype, words of its taxonomy definition (dating, breakups,
# marriage, outfits, looks, airport photos, stars together, fans): what a person starting
# the category would type. Not tuned on the pool: a first list of ten (恋情 官宣 分手 同框
# 机场 粉丝 颜值 造型 绯闻 路透) hit 18 of its 1,568 titles, so it was widened once with
# more words of the definition, without looking at which titles they hit.
HYPE_SEEDS = (
    "恋情", "官宣", "分手", "结婚", "离婚", "同框", "合体", "机场", "穿搭", "造型",
    "颜值", "生图", "粉丝", "饭圈", "绯闻", "路透",
)  # fmt: skip
REPORT_AT = (50, 200, 500)
_CHUNK = 2000


@dataclass(frozen=True)
class LoopSpec:
    start: int = 50
    batch: int = 50
    max_labels: int = 1000
    random_share: float = DEFAULT_RANDOM_SHARE
    C: float = 4.0
    threshold: float = 0.5
    max_iter: int = 1000


@dataclass
class LoopData:
    """One task's pool and held-out rows, as texts, features and 0/1 labels."""

    pool_texts: list[str]
    X_pool: sparse.csr_matrix
    y_pool: np.ndarray
    X_held: sparse.csr_matrix
    y_held: np.ndarray
    seed_terms: tuple[str, ...] = ()


@dataclass
class LoopResult:
    strategy: str
    seed: int
    labels: list[int] = field(default_factory=list)  # labeled rows after each step
    ap: list[float] = field(default_factory=list)  # held-out AP of the model fitted on them
    positives: list[int] = field(default_factory=list)  # labeled positives after each step
    selected: list[int] = field(default_factory=list)  # pool rows in the order they were labeled
    selected_by: list[str] = field(default_factory=list)  # the part that chose each: strategy, random, start
    start_draws: int = 1  # starts drawn until one held both classes


@dataclass
class Task:
    dataset: str
    category: str
    data: LoopData
    strategies: tuple[str, ...]
    max_labels: int

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.category}"


class _Picker:
    """Pool rows not labeled yet, taken in a given order, skipping near-duplicates of
    labeled texts and of each other (as `label select` does)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.labeled = np.zeros(len(texts), dtype=bool)
        self.dedup = NearDuplicateFilter()

    def take(self, order: np.ndarray, want: int) -> list[int]:
        order = np.asarray(order, dtype=int)
        order = order[~self.labeled[order]]
        taken: list[int] = []
        for start in range(0, len(order), _CHUNK):
            if len(taken) >= want:
                break
            chunk = order[start : start + _CHUNK]
            accepted = self.dedup.accept([self.texts[i] for i in chunk], want - len(taken))
            taken.extend(int(chunk[j]) for j in accepted)
        self.labeled[taken] = True
        return taken


def _mixed_batch(picker: _Picker, order: np.ndarray | None, n: int, random_share: float, rng) -> tuple[list, list]:
    """A batch as `label select` builds it: n - round(n * share) rows from `order` (None:
    the random strategy, all n at random), the rest uniformly from the remaining pool."""
    chosen = [] if order is None else picker.take(order, n - round(n * random_share))
    rest = rng.permutation(np.flatnonzero(~picker.labeled))
    randoms = picker.take(rest, n - len(chosen))
    return chosen, randoms


def _fit(data: LoopData, rows: list[int], spec: LoopSpec, seed: int) -> LogisticRegression:
    lr = LogisticRegression(
        C=spec.C, class_weight="balanced", solver="liblinear", max_iter=spec.max_iter, random_state=seed
    )
    return lr.fit(data.X_pool[rows], data.y_pool[rows])


def _start(data: LoopData, strategy: str, spec: LoopSpec, seed: int, rng) -> tuple[_Picker, list[int], list[str], int]:
    """The first `spec.start` labels: at random (the same rows for every strategy of a seed)
    or, for seed-terms, from the seed-term order plus the random share. Drawn again, with
    the seed's generator, until they hold a positive and a negative."""
    start_rng = np.random.default_rng([seed, 0])
    for draws in range(1, 51):
        picker = _Picker(data.pool_texts)
        if strategy == "seed-terms":
            order, _ = seed_term_order(data.X_pool, seed_hits(data.pool_texts, data.seed_terms), rng)
            if not len(order):
                raise ValueError(f"no pool text contains any of the seeds {list(data.seed_terms)}")
            chosen, randoms = _mixed_batch(picker, order, spec.start, spec.random_share, rng)
            rows, by = chosen + randoms, ["seed-terms"] * len(chosen) + ["random"] * len(randoms)
        else:
            rows = picker.take(random_order(len(data.pool_texts), start_rng), spec.start)
            by = ["start"] * len(rows)
        if 0 < data.y_pool[rows].sum() < len(rows):
            return picker, rows, by, draws
    raise ValueError("50 starts in a row held a single class: is the category present in the pool?")


def run_loop(data: LoopData, strategy: str, seed: int, spec: LoopSpec) -> LoopResult:
    """One simulated labeling run of `strategy` from `spec.start` labels to `spec.max_labels`
    (or the pool's end), refitting and scoring the held-out rows after every batch."""
    rng = np.random.default_rng([seed, 1])
    picker, rows, by, draws = _start(data, strategy, spec, seed, rng)
    result = LoopResult(strategy, seed, selected=list(rows), selected_by=list(by), start_draws=draws)
    next_by = "uncertainty" if strategy == "seed-terms" else strategy
    while True:
        labeled = result.selected
        model = _fit(data, labeled, spec, seed)
        result.labels.append(len(labeled))
        result.ap.append(float(average_precision_score(data.y_held, model.predict_proba(data.X_held)[:, 1])))
        result.positives.append(int(data.y_pool[labeled].sum()))
        want = min(spec.batch, spec.max_labels - len(labeled))
        if want <= 0 or picker.labeled.all():
            return result
        if next_by == "random":
            order = None
        else:
            proba = model.predict_proba(data.X_pool)[:, 1]
            order = (
                likely_positive_order(proba)
                if next_by == "likely-positive"
                else uncertainty_order(proba, spec.threshold)
            )
        chosen, randoms = _mixed_batch(picker, order, want, spec.random_share, rng)
        if not chosen and not randoms:  # everything left is a near-duplicate of a labeled text
            return result
        result.selected += chosen + randoms
        result.selected_by += [next_by] * len(chosen) + ["random"] * len(randoms)


# --- data and features -------------------------------------------------------------


def _split(table: pd.DataFrame, split: str, category: str) -> pd.DataFrame:
    rows = table[(table["split"] == split) & table[category].notna()]
    return rows[["text", category]].reset_index(drop=True)


def load_tables(
    data_dir: Path, cold_pool: int, cold_held_out: int | None
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per dataset: (pool, held-out) frames with `text` and the label columns."""
    taxonomy = load_taxonomy()
    trending = build_dataset(taxonomy, data_dir=data_dir, corpora=["weibo_trending_labeled"]).table
    cold = build_dataset(taxonomy, data_dir=data_dir, corpora=["cold"]).table
    sample = np.random.default_rng(0)
    cold_train, cold_test = _split(cold, "train", "online_violence"), _split(cold, "test", "online_violence")
    cold_train = cold_train.iloc[np.sort(sample.permutation(len(cold_train))[:cold_pool])].reset_index(drop=True)
    if cold_held_out is not None and cold_held_out < len(cold_test):
        cold_test = cold_test.iloc[np.sort(sample.permutation(len(cold_test))[:cold_held_out])].reset_index(drop=True)
    trending_cols = ["text", "celebrity_hype", "trivial"]
    return {
        "trending": (
            trending[trending["split"] == "train"][trending_cols].reset_index(drop=True),
            trending[trending["split"] == "dev"][trending_cols].reset_index(drop=True),
        ),
        "cold": (cold_train, cold_test),
    }


def training_vectorizer(data_dir: Path | None, exclude: list[str]):
    """The vectorizer `qinglang train` builds with the default config (unfitted), with the
    phonetic map built from the archive titles, as training does (labeled texts left out)."""
    from qinglang.training.config import load_config
    from qinglang.training.train import build_classifier, phonetic_map, unlabeled_texts

    config = load_config()
    taxonomy = load_taxonomy(config.taxonomy)
    unlabeled = unlabeled_texts(config, data_dir, pd.DataFrame({"text": exclude})) if data_dir else None
    phonetic = phonetic_map(config, taxonomy, data_dir, unlabeled)
    return build_classifier(config, taxonomy, None, phonetic).vectorizer


def featurize(vectorizer, pool: list[str], held: list[str]) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    fitted = clone(vectorizer).fit(pool)
    return sparse.csr_matrix(fitted.transform(pool)), sparse.csr_matrix(fitted.transform(held))


def build_tasks(tables: dict, vectorizer, max_labels: int | None) -> list[Task]:
    plan = {
        "trending": [
            ("celebrity_hype", ("random", "uncertainty", "likely-positive", "seed-terms"), HYPE_SEEDS),
            ("trivial", ("random", "uncertainty", "likely-positive"), ()),
        ],
        "cold": [("online_violence", ("random", "uncertainty", "likely-positive"), ())],
    }
    tasks = []
    for dataset, categories in plan.items():
        pool, held = tables[dataset]
        started = time.perf_counter()
        X_pool, X_held = featurize(vectorizer, pool["text"].tolist(), held["text"].tolist())
        print(
            f"{dataset}: pool {len(pool):,}, held out {len(held):,}, {X_pool.shape[1]:,} features "
            f"({time.perf_counter() - started:.0f} s)"
        )
        cap = max_labels or (1000 if dataset == "trending" else 1500)
        for category, strategies, seeds in categories:
            data = LoopData(
                pool["text"].tolist(),
                X_pool,
                pool[category].to_numpy(dtype=int),
                X_held,
                held[category].to_numpy(dtype=int),
                seeds,
            )
            tasks.append(Task(dataset, category, data, strategies, min(cap, len(pool))))
    return tasks


# --- summary, table, plot ----------------------------------------------------------


def curves(results: list[LoopResult]) -> tuple[np.ndarray, np.ndarray]:
    """Label counts and an (n_seeds, n_steps) AP matrix, cut to the shortest run."""
    n = min(len(r.ap) for r in results)
    return np.asarray(results[0].labels[:n]), np.asarray([r.ap[:n] for r in results])


def labels_to_reach(labels: np.ndarray, ap: np.ndarray, target: float) -> int | None:
    hit = np.flatnonzero(ap >= target - 1e-12)
    return int(labels[hit[0]]) if len(hit) else None


def summarize(task: Task, runs: dict[str, list[LoopResult]]) -> dict:
    out: dict = {"task": task.name, "pool": len(task.data.y_pool), "held_out": len(task.data.y_held)}
    out["pool_positive_rate"] = float(task.data.y_pool.mean())
    out["held_out_positive_rate"] = float(task.data.y_held.mean())
    rand_labels, rand_ap = curves(runs["random"])
    final_labels, target = int(rand_labels[-1]), float(rand_ap[:, -1].mean())
    out["random_final"] = {"labels": final_labels, "ap": target}
    strategies = {}
    for name, results in runs.items():
        labels, ap = curves(results)
        mean = ap.mean(axis=0)
        at = {}
        for n in (*REPORT_AT, int(labels[-1])):
            if n in labels:
                col = ap[:, list(labels).index(n)]
                at[str(n)] = {"mean": float(col.mean()), "min": float(col.min()), "max": float(col.max())}
        reach = labels_to_reach(labels, mean, target)
        per_seed = [labels_to_reach(labels, row, target) for row in ap]
        strategies[name] = {
            "ap_at": at,
            "labels_to_random_final": reach,
            "ratio": None if reach is None else reach / final_labels,
            "labels_to_random_final_per_seed": per_seed,
            "positives_labeled_final": float(np.mean([r.positives[len(labels) - 1] for r in results])),
            "curve": {
                "labels": labels.tolist(),
                "mean": mean.tolist(),
                "min": ap.min(0).tolist(),
                "max": ap.max(0).tolist(),
            },
        }
    if "seed-terms" in runs:
        hits = seed_hits(task.data.pool_texts, task.data.seed_terms)
        out["seed_terms"] = {
            "terms": list(task.data.seed_terms),
            "pool_hits": int(hits.sum()),
            "hit_precision": float(task.data.y_pool[hits].mean()) if hits.any() else None,
            "start_positives": float(np.mean([r.positives[0] for r in runs["seed-terms"]])),
            "random_start_positives": float(np.mean([r.positives[0] for r in runs["random"]])),
        }
    out["strategies"] = strategies
    return out


def print_summary(summary: dict) -> None:
    title = (
        f"{summary['task']}: pool {summary['pool']:,} ({summary['pool_positive_rate']:.0%} positive), "
        f"held out {summary['held_out']:,} ({summary['held_out_positive_rate']:.0%} positive)"
    )
    print(f"\n{title}\n{'-' * len(title)}")
    final = summary["random_final"]
    cols = [*map(str, REPORT_AT), "final"]
    print(
        f"  {'strategy':<16}"
        + "".join(f"{'AP@' + c:>20}" for c in cols)
        + f"{'pos. labeled':>14}{'labels to random final':>26}{'ratio':>8}"
    )
    for name, s in summary["strategies"].items():
        final_key = list(s["ap_at"])[-1]
        cells = []
        for c in cols:
            v = s["ap_at"].get(final_key if c == "final" else c)
            cells.append("-" if v is None else f"{v['mean']:.3f} [{v['min']:.3f},{v['max']:.3f}]")
        reach = s["labels_to_random_final"]
        reach_txt = "not reached" if reach is None else f"{reach:,}"
        ratio = "-" if s["ratio"] is None else f"{s['ratio']:.2f}"
        if name == "random":
            reach_txt, ratio = f"{final['labels']:,} (target)", "1.00"
        print(
            f"  {name:<16}"
            + "".join(f"{c:>20}" for c in cells)
            + f"{s['positives_labeled_final']:>14.0f}{reach_txt:>26}{ratio:>8}"
        )
    print(f"  target: random's mean AP at {final['labels']:,} labels = {final['ap']:.3f}; [min,max] over seeds")
    if "seed_terms" in summary:
        st = summary["seed_terms"]
        print(
            f"  seed terms {','.join(st['terms'])}: {st['pool_hits']} pool hits, {st['hit_precision']:.0%} positive; "
            f"positives in the first 50 labels: {st['start_positives']:.1f} (random start {st['random_start_positives']:.1f})"
        )


def plot(summaries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"random": "black", "uncertainty": "tab:blue", "likely-positive": "tab:orange", "seed-terms": "tab:green"}
    fig, axes = plt.subplots(1, len(summaries), figsize=(5.2 * len(summaries), 4.2), squeeze=False)
    for ax, summary in zip(axes[0], summaries, strict=True):
        for name, s in summary["strategies"].items():
            c = s["curve"]
            label = "seed-terms start, then uncertainty" if name == "seed-terms" else name
            ax.plot(c["labels"], c["mean"], color=colors.get(name), label=label, lw=1.6)
            ax.fill_between(c["labels"], c["min"], c["max"], color=colors.get(name), alpha=0.15, lw=0)
        ax.axhline(summary["random_final"]["ap"], color="grey", ls=":", lw=1)
        ax.set_title(f"{summary['task']} (held out {summary['held_out']:,})", fontsize=10)
        ax.set_xlabel("labels")
        ax.set_ylabel("held-out AP")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Simulated labeling loop: mean over seeds, band = min-max; dotted = random's final AP", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"plot → {path}")


def main() -> None:
    p = parser(__doc__.split("\n\n")[0], model=False)
    p.add_argument("--seeds", type=int, default=5, help="Runs per strategy, seeds 0..N-1 (default 5).")
    p.add_argument("--max-labels", type=int, default=None, help="Labels to stop at (default 1000 trending, 1500 COLD).")
    p.add_argument(
        "--cold-pool", type=int, default=6000, help="COLD train rows in the pool (fixed sample, default 6000)."
    )
    p.add_argument("--cold-held-out", type=int, default=None, help="COLD test rows held out (default: all).")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG", help="Write the AP-vs-labels plot here.")
    p.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run (~20 s): 2 seeds, 300 labels, COLD pool 1500 / held out 1000, no phonetic map.",
    )
    args = p.parse_args()
    if args.quick:
        args.seeds, args.max_labels = min(args.seeds, 2), args.max_labels or 300
        args.cold_pool, args.cold_held_out = min(args.cold_pool, 1500), args.cold_held_out or 1000
    spec = LoopSpec()
    started = time.perf_counter()
    tables = load_tables(args.data_dir, args.cold_pool, args.cold_held_out)
    exclude = [t for pool, held in tables.values() for t in (*pool["text"], *held["text"])]
    vectorizer = training_vectorizer(None if args.quick else args.data_dir, exclude)
    tasks = build_tasks(tables, vectorizer, args.max_labels)
    summaries = []
    for task in tasks:
        task_spec = LoopSpec(max_labels=task.max_labels, random_share=spec.random_share)
        t0 = time.perf_counter()
        runs = {s: [run_loop(task.data, s, seed, task_spec) for seed in range(args.seeds)] for s in task.strategies}
        summary = summarize(task, runs)
        summary["seconds"] = time.perf_counter() - t0
        summaries.append(summary)
        print_summary(summary)
    print(f"\nwall clock {time.perf_counter() - started:.0f} s")
    if args.plot:
        plot(summaries, args.plot)
    figures = {
        "machine": machine(),
        "settings": {
            "seeds": args.seeds,
            "start": spec.start,
            "batch": spec.batch,
            "random_share": spec.random_share,
            "C": spec.C,
            "threshold": spec.threshold,
            "cold_pool": args.cold_pool,
            "cold_held_out": args.cold_held_out,
            "quick": args.quick,
        },
        "tasks": summaries,
    }
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
