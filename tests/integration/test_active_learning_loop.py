"""The simulated labeling loop of benchmarks/bench_active_learning.py on a small slice of
the real corpora: what it selects, how it mixes the random share, what it scores."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from qinglang.data.schema import dedup_key
from qinglang.labeling.strategies import seed_hits

pytestmark = [pytest.mark.corpora, pytest.mark.slow]

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
POOL, START, BATCH, STEPS = 300, 50, 50, 2


@pytest.fixture(scope="module")
def bench():
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(BENCHMARKS))
        yield importlib.import_module("bench_active_learning")


@pytest.fixture(scope="module")
def slices(bench, data_dir):
    """Per dataset: a 300-row pool slice and a 300-row held-out slice, with features."""
    tables = bench.load_tables(data_dir, cold_pool=POOL, cold_held_out=POOL)
    vectorizer = bench.training_vectorizer(None, [])
    out = {}
    for dataset, (pool, held) in tables.items():
        rng = np.random.default_rng(0)
        pool = pool.iloc[np.sort(rng.permutation(len(pool))[:POOL])].reset_index(drop=True)
        held = held.iloc[np.sort(rng.permutation(len(held))[:POOL])].reset_index(drop=True)
        X_pool, X_held = bench.featurize(vectorizer, pool["text"].tolist(), held["text"].tolist())
        out[dataset] = (pool, held, X_pool, X_held)
    return out


def loop_data(bench, slices, dataset, category, seeds=()):
    pool, held, X_pool, X_held = slices[dataset]
    return bench.LoopData(
        pool["text"].tolist(),
        X_pool,
        pool[category].to_numpy(dtype=int),
        X_held,
        held[category].to_numpy(dtype=int),
        tuple(seeds),
    ), held["text"].tolist()


SPEC_LABELS = START + STEPS * BATCH
TASKS = [("trending", "celebrity_hype"), ("trending", "trivial"), ("cold", "online_violence")]


@pytest.mark.parametrize("dataset, category", TASKS)
@pytest.mark.parametrize("strategy", ["random", "uncertainty", "likely-positive"])
def test_loop_grows_by_batches_and_scores_the_held_out_rows(bench, slices, dataset, category, strategy):
    data, held_texts = loop_data(bench, slices, dataset, category)
    spec = bench.LoopSpec(start=START, batch=BATCH, max_labels=SPEC_LABELS)
    result = bench.run_loop(data, strategy, 0, spec)

    assert result.labels == [START + i * BATCH for i in range(STEPS + 1)]
    assert len(result.ap) == STEPS + 1
    assert all(0.0 <= ap <= 1.0 for ap in result.ap)
    # AP beats the held-out share of positives (what a random ranking scores)
    assert np.mean(result.ap) > data.y_held.mean()
    assert len(result.selected) == len(set(result.selected)) == SPEC_LABELS
    assert all(0 <= i < len(data.pool_texts) for i in result.selected)
    assert result.positives == [int(data.y_pool[result.selected[:n]].sum()) for n in result.labels]
    start = data.y_pool[result.selected[:START]]
    assert 0 < start.sum() < START

    # no held-out text (nor a duplicate of one) is ever selected
    held_keys = {dedup_key(t) for t in held_texts}
    assert not {dedup_key(data.pool_texts[i]) for i in result.selected} & held_keys

    # every batch after the start keeps the product's random share
    assert result.selected_by[:START] == ["start"] * START
    for step in range(STEPS):
        part = result.selected_by[START + step * BATCH : START + (step + 1) * BATCH]
        if strategy == "random":
            assert part == ["random"] * BATCH
        else:
            n_random = round(BATCH * bench.DEFAULT_RANDOM_SHARE)
            assert part.count("random") == n_random == 10
            assert part.count(strategy) == BATCH - n_random


def test_every_strategy_of_a_seed_starts_from_the_same_labels(bench, slices):
    data, _ = loop_data(bench, slices, "trending", "celebrity_hype")
    spec = bench.LoopSpec(max_labels=START + BATCH)
    runs = {s: bench.run_loop(data, s, 3, spec) for s in ("random", "uncertainty", "likely-positive")}
    starts = {tuple(r.selected[:START]) for r in runs.values()}
    assert len(starts) == 1
    assert {r.ap[0] for r in runs.values()} == {runs["random"].ap[0]}
    # batches differ by strategy and a seed is reproducible
    assert runs["uncertainty"].selected != runs["likely-positive"].selected
    assert bench.run_loop(data, "uncertainty", 3, spec).selected == runs["uncertainty"].selected
    assert bench.run_loop(data, "uncertainty", 4, spec).selected[:START] != runs["uncertainty"].selected[:START]


def test_seed_terms_start_from_seed_hits_then_go_on_by_uncertainty(bench, slices):
    data, _ = loop_data(bench, slices, "trending", "celebrity_hype", bench.HYPE_SEEDS)
    hits = seed_hits(data.pool_texts, data.seed_terms)
    assert hits.any()
    result = bench.run_loop(data, "seed-terms", 0, bench.LoopSpec(max_labels=SPEC_LABELS))
    assert result.labels == [START + i * BATCH for i in range(STEPS + 1)]
    first = result.selected_by[:START]
    assert first.count("random") == 10 and first.count("seed-terms") == 40
    seeded = [i for i, by in zip(result.selected[:START], first, strict=True) if by == "seed-terms"]
    # the seed-term order interleaves hits with neighbours: with fewer than 20 hits in the
    # slice, all of them are among the 40 rows it chooses
    assert hits.sum() < 20
    assert set(np.flatnonzero(hits)) <= set(seeded)
    later = result.selected_by[START:]
    assert set(later) == {"uncertainty", "random"} and later.count("random") == STEPS * 10


def test_likely_positive_labels_more_positives_than_random(bench, slices):
    data, _ = loop_data(bench, slices, "trending", "celebrity_hype")
    spec = bench.LoopSpec(max_labels=SPEC_LABELS)
    found = {
        s: np.mean([bench.run_loop(data, s, seed, spec).positives[-1] for seed in range(3)])
        for s in ("random", "likely-positive")
    }
    assert found["likely-positive"] > found["random"]
