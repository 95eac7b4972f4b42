"""How candidates for labeling are ranked: pure functions over scores and features, shared
by `qinglang label select` and the simulated-loop benchmark, so the benchmark measures the
strategies the product ships.

Every function returns row indices into its inputs, best candidate first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

STRATEGIES = ("uncertainty", "likely-positive", "seed-terms", "random")
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def uncertainty_order(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Rows whose score is closest to a decision threshold first: the margin of a row is
    min over categories of |logit(p) - logit(threshold)| (categories with NaN scores or
    thresholds are ignored; rows with no usable category come last, in input order).
    `proba`: (n, K) or (n,); `thresholds`: (K,) or a scalar."""
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        proba = proba[:, None]
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), (proba.shape[1],))
    margin = np.abs(_logit(proba) - _logit(thresholds)[None, :])
    margin[np.isnan(proba) | np.isnan(thresholds)[None, :]] = np.inf
    best = margin.min(axis=1) if proba.shape[1] else np.full(len(proba), np.inf)
    return np.argsort(best, kind="stable")


def likely_positive_order(scores: np.ndarray) -> np.ndarray:
    """Highest score first (NaN last)."""
    scores = np.asarray(scores, dtype=float)
    return np.argsort(np.where(np.isnan(scores), np.inf, -scores), kind="stable")


def random_order(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(n)


def seed_hits(texts: Sequence[str], seeds: Sequence[str]) -> np.ndarray:
    """Boolean mask: the text contains at least one seed term."""
    seeds = [s for s in (s.strip() for s in seeds) if s]
    return np.array([any(s in t for s in seeds) for t in texts], dtype=bool)


def _unit_rows(features: sparse.spmatrix) -> sparse.csr_matrix:
    features = sparse.csr_matrix(features, dtype=float)
    norms = np.sqrt(np.asarray(features.multiply(features).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ features


def seed_term_order(
    features: sparse.spmatrix, hits: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates for a category that has no labels yet, from a few seed terms: texts that
    contain a seed, interleaved with their nearest neighbours in feature space that do
    *not* contain one (so the batch also reaches paraphrases the seeds miss, and labelers
    see negatives that look like positives). Neighbours are ranked by cosine similarity to
    the centroid of the seed hits. Returns (order, is_hit) where is_hit says for each row
    of `order` whether it contains a seed. No hits: an empty order (the caller says so)."""
    hits = np.asarray(hits, dtype=bool)
    hit_rows = np.flatnonzero(hits)
    if not len(hit_rows):
        return np.array([], dtype=int), np.array([], dtype=bool)
    unit = _unit_rows(features)
    centroid = np.asarray(unit[hit_rows].mean(axis=0)).ravel()
    similarity = unit @ centroid
    neighbours = np.flatnonzero(~hits)
    neighbours = neighbours[np.argsort(-similarity[neighbours], kind="stable")]
    neighbours = neighbours[similarity[neighbours] > 0]
    hit_order = rng.permutation(hit_rows)  # hits are all equally "seeded": a random order spreads them
    order, is_hit = [], []
    for i in range(max(len(hit_order), len(neighbours))):
        if i < len(hit_order):
            order.append(hit_order[i])
            is_hit.append(True)
        if i < len(neighbours):
            order.append(neighbours[i])
            is_hit.append(False)
    return np.asarray(order, dtype=int), np.asarray(is_hit, dtype=bool)
