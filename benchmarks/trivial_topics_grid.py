"""The exploratory grid behind trivial's `topics` setting: latent topics (LSA) of the archive
titles added to a plain char 1-3 TF-IDF + LR (C=16, balanced), on the same time-ordered
periods as trending_backtest.py (each period scored by models fitted on the labeled titles
first seen before it; the topics are learned from the archive titles first seen before it,
minus every labeled title).

Per period: `baseline` (char 1-3 + LR, C=1), `c16` (char 1-3 + LR, C=16 balanced) and c16
plus the topic columns, over a grid of
  vocabulary   w1: jieba word unigrams, w2: unigrams + bigrams (TF-IDF fitted on the pool, min_df 2)
  components   100, 200, 300
  rows         n: the topic vector L2-normalised per title; u: as projected (linear, so it
               folds back into word coefficients: what the package ships)
  weight       scale of the topic columns against the char block
It prints AP per period, pooled and the mean of periods (trivial only). This grid was run on
2026-12-06 before the package got `topics`; the shipped setting (w1, 200, u, weight 1.0) was
picked from it, on these same four periods: docs/trending_backtest.md, "Topics for trivial",
says what that means for the figures.

    .venv/bin/python benchmarks/trivial_topics_grid.py [--data-dir DIR]    # ~10 min on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jieba
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trending_backtest as tb  # noqa: E402

from qinglang.trending.backtest import archive_pool  # noqa: E402

GRID_W1 = [
    (d, norm, w)
    for d in (100, 200, 300)
    for norm, ws in ((True, (0.25, 0.5, 1.0)), (False, (0.5, 1.0, 2.0)))
    for w in ws
]
GRID_W2 = [(200, norm, w) for norm, ws in ((True, (0.25, 0.5, 1.0)), (False, (0.5, 1.0, 2.0))) for w in ws]


def topic_scores(tokens: dict, pool, fit, evaluate, X, Xe, ngram: int, grid) -> dict[str, np.ndarray]:
    def analyzer(t):
        words = tokens[t]
        return words if ngram == 1 else words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]

    vec = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=2)
    P = vec.fit_transform(pool)
    y = fit["trivial"].to_numpy()
    out, bases = {}, {}
    for dims, norm, weight in grid:
        if dims not in bases:
            svd = TruncatedSVD(dims, random_state=0, n_iter=5).fit(P)
            bases[dims] = (svd.transform(vec.transform(fit["text"])), svd.transform(vec.transform(evaluate["text"])))
        Zf, Ze = bases[dims]
        if norm:
            Zf, Ze = normalize(Zf), normalize(Ze)
        model = tb.logreg(tb.STRONG_C, "balanced").fit(sp.hstack([X, weight * sp.csr_matrix(Zf)]).tocsr(), y)
        name = f"w{ngram}_d{dims}_{'n' if norm else 'u'}_x{weight}"
        out[name] = model.predict_proba(sp.hstack([Xe, weight * sp.csr_matrix(Ze)]).tocsr())[:, 1]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=tb.default_data_dir(), help="datasets folder")
    args = p.parse_args()
    jieba.setLogLevel(60)
    df = tb.load_labeled(args.data_dir)
    archive = tb.load_archive_titles(args.data_dir)
    texts = pd.unique(pd.concat([archive["title"], df["text"]]))
    tokens = {t: [w for w in jieba.lcut(t) if w.strip()] for t in texts}
    results = {}
    for name, start, end in tb.EVAL_PERIODS:
        started = time.perf_counter()
        period = tb.make_period(df, name, start, end)
        pool = archive_pool(archive, df, period.start)
        scores = {"baseline": tb.baseline_scores(period.fit, period.eval["text"])[:, 1]}
        vec = tb.char_vectorizer()
        X, Xe = vec.fit_transform(period.fit["text"]), vec.transform(period.eval["text"])
        y = period.fit["trivial"].to_numpy()
        scores["c16"] = tb.logreg(tb.STRONG_C, "balanced").fit(X, y).predict_proba(Xe)[:, 1]
        scores |= topic_scores(tokens, pool, period.fit, period.eval, X, Xe, 1, GRID_W1)
        scores |= topic_scores(tokens, pool, period.fit, period.eval, X, Xe, 2, GRID_W2)
        results[name] = (period.eval["trivial"].to_numpy(), scores)
        print(f"{name}: pool {len(pool)}, {time.perf_counter() - started:.0f} s", flush=True)
    names = list(results)
    y_all = np.concatenate([results[n][0] for n in names])
    rows = []
    for variant in results[names[0]][1]:
        per = [tb.fast_ap(results[n][0], results[n][1][variant]) for n in names]
        pooled = tb.fast_ap(y_all, np.concatenate([results[n][1][variant] for n in names]))
        rows.append([variant, *[f"{a:.3f}" for a in per], f"{pooled:.3f}", f"{np.mean(per):.3f}"])
    print("\n## trivial AP\n")
    print(tb.md_table(["variant", *names, "pooled", "mean"], rows))


if __name__ == "__main__":
    main()
