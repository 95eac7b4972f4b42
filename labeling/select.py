"""`qinglang label select`: the next batch for reviewers, chosen where labels help most.

A batch mixes two parts: rows chosen by the strategy, and a stated share of rows drawn
uniformly from the pool (default 20%), so a batch labeled by people can still estimate
shares and error rates without bias (each row says which part chose it, `selected_by`).
The batch is shuffled, so a labeler cannot tell the parts apart. Texts already labeled,
and near-duplicates of them or of each other, are never selected (see `labeling.pool`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qinglang.data.errors import DataError
from qinglang.labeling.pool import NearDuplicateFilter
from qinglang.labeling.store import item_id_of
from qinglang.labeling.strategies import (
    STRATEGIES,
    likely_positive_order,
    random_order,
    seed_hits,
    seed_term_order,
    uncertainty_order,
)
from qinglang.models.bundle import ModelBundle

DEFAULT_RANDOM_SHARE = 0.2
_CHUNK = 2000  # candidates checked for near-duplicates at a time


@dataclass(frozen=True)
class SelectRequest:
    n: int
    strategy: str
    category: str | None = None
    seeds: tuple[str, ...] = ()
    random_share: float = DEFAULT_RANDOM_SHARE
    kind: str = "title"
    profile: str | None = None
    seed: int = 0


@dataclass
class Selection:
    batch: pd.DataFrame
    pool_size: int
    excluded: int  # pool texts that are labeled already or near-duplicates of labeled texts
    counts: Counter = field(default_factory=Counter)  # rows per `selected_by`
    seed_hits: int | None = None  # pool texts containing a seed term (seed-terms only)


def check_request(request: SelectRequest, bundle: ModelBundle) -> None:
    """Every mistake in the request as one clear error, before any scoring."""
    taxonomy = bundle.taxonomy
    if request.strategy not in STRATEGIES:
        raise DataError(f"unknown strategy {request.strategy!r}; strategies are {', '.join(STRATEGIES)}")
    if request.n < 1:
        raise DataError(f"--n must be at least 1, got {request.n}")
    if not 0 <= request.random_share <= 1:
        raise DataError(f"--random-share must be between 0 and 1, got {request.random_share}")
    if request.category is not None and request.category not in taxonomy:
        raise DataError(f"unknown category {request.category!r}; the taxonomy has {', '.join(taxonomy.keys)}")
    if request.strategy in ("likely-positive", "seed-terms") and request.category is None:
        raise DataError(f"--strategy {request.strategy} needs --category")
    if request.strategy == "seed-terms" and not [s for s in request.seeds if s.strip()]:
        raise DataError('--strategy seed-terms needs --seeds "term1,term2,..."')
    if request.strategy in ("uncertainty", "likely-positive") and request.category is not None:
        fits = {f["key"]: f for f in bundle.classifier.fit_summary()}
        if not fits.get(request.category, {}).get("trained", True):
            raise DataError(
                f"category {request.category!r} has no classifier in this model (too few labels); "
                "start it with --strategy seed-terms --seeds ..."
            )


def _strategy_order(request: SelectRequest, bundle: ModelBundle, texts: list[str], rng) -> tuple[np.ndarray, dict]:
    """Pool positions in the strategy's order, and per-row extras (score, seed_hit)."""
    extras: dict[str, np.ndarray] = {}
    if request.strategy == "random":
        return random_order(len(texts), rng), extras
    if request.strategy == "seed-terms":
        hits = seed_hits(texts, request.seeds)
        features = bundle.classifier.transform(texts)
        order, _ = seed_term_order(features, hits, rng)
        extras["seed_hit"] = hits.astype(int)
        return order, extras
    proba = bundle.classifier.predict_proba(texts, request.kind)
    thresholds = bundle.classifier.profile_thresholds(request.profile, request.kind)
    columns = list(range(proba.shape[1]))
    if request.category is not None:
        columns = [bundle.categories.index(request.category)]
        extras["score"] = proba[:, columns[0]]
    if request.strategy == "likely-positive":
        return likely_positive_order(proba[:, columns[0]]), extras
    return uncertainty_order(proba[:, columns], thresholds[columns]), extras


def _take(order: np.ndarray, texts: list[str], want: int, dedup: NearDuplicateFilter) -> list[int]:
    """Up to `want` pool positions from `order`, skipping near-duplicates."""
    taken: list[int] = []
    for start in range(0, len(order), _CHUNK):
        if len(taken) >= want:
            break
        chunk = order[start : start + _CHUNK]
        accepted = dedup.accept([texts[i] for i in chunk], want - len(taken))
        taken.extend(int(chunk[j]) for j in accepted)
    return taken


def select_batch(request: SelectRequest, bundle: ModelBundle, pool: pd.DataFrame, labeled: list[str]) -> Selection:
    """The batch for `request` from `pool` (a frame with `text`), leaving out `labeled`."""
    check_request(request, bundle)
    rng = np.random.default_rng(request.seed)
    dedup = NearDuplicateFilter(labeled)
    known = dedup.is_known(pool["text"].tolist()) if labeled else np.zeros(len(pool), dtype=bool)
    pool = pool[~known].reset_index(drop=True)
    if pool.empty:
        raise DataError("every text of the pool is labeled already (or a near-duplicate of a labeled text)")
    texts = pool["text"].tolist()
    order, extras = _strategy_order(request, bundle, texts, rng)
    if request.strategy == "seed-terms" and not len(order):
        raise DataError(f"no text of the pool contains any of the seeds {list(request.seeds)}; try other seed terms")
    n_random = request.n if request.strategy == "random" else round(request.n * request.random_share)
    chosen = _take(order, texts, request.n - n_random, dedup) if request.strategy != "random" else []
    rest = np.setdiff1d(random_order(len(texts), rng), chosen, assume_unique=True)
    rest = rng.permutation(rest)
    randoms = _take(rest, texts, request.n - len(chosen), dedup)
    batch = _batch_frame(pool, request, chosen, randoms, extras)
    batch = batch.iloc[rng.permutation(len(batch))].reset_index(drop=True)
    hits = int(extras["seed_hit"].sum()) if "seed_hit" in extras else None
    return Selection(batch, len(known), int(known.sum()), Counter(batch["selected_by"]), hits)


def _batch_frame(
    pool: pd.DataFrame, request: SelectRequest, chosen: list[int], randoms: list[int], extras
) -> pd.DataFrame:
    rows = chosen + randoms
    frame = pd.DataFrame(
        {
            "item_id": [item_id_of(t) for t in pool["text"].iloc[rows]],
            "text": pool["text"].iloc[rows].to_numpy(),
            "kind": request.kind,
            "selected_by": [request.strategy] * len(chosen) + ["random"] * len(randoms),
            "category": request.category or "",
        }
    )
    for name, values in extras.items():
        frame[name] = np.asarray(values)[rows]
    if "first_seen" in pool.columns:
        frame["first_seen"] = pd.to_datetime(pool["first_seen"].iloc[rows]).dt.date.astype(str).to_numpy()
    return frame
