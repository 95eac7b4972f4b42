"""online_violence model variants that the config cannot express, compared on dev splits
only, each logged as an MLflow run (experiment `qinglang-online-violence-variants`).

The default pools four sources whose labels follow different definitions (COLD offensive,
ToxiCN toxic, ChineseHarm abuse, the cyberbullying roles' bully). These variants ask
whether a richer linear model serves all four better, at no serving cost (each is still
one weight vector over the TF-IDF features, or a source-free part of one):

  default           NB-weighted logistic regression, C=2 (the shipped setting)
  plain_lr          logistic regression on TF-IDF, C=4
  average           the two above averaged (scores scaled by their standard deviation)
  lexicon_hit       the default plus one feature: the text contains a term of ToxiCN's
                    insult lexicon (the keyword baseline as a feature)
  source_shared     feature augmentation (Daumé 2007): shared plus per-source copies of
                    every feature; served with the shared part only, since a served text
                    has no source
  source_own        the same model scored with each row's own source part: an upper bound
                    that needs the source at serving

Rows: the default config's data (all corpora, merged and deduplicated as in training),
online_violence known; fitted on `train`, scored on `dev`. Prints dev AP per source.

    .venv/bin/python benchmarks/online_violence_variants.py [--json runs/ov-variants.json]
"""

from __future__ import annotations

from _common import parser, write_json

KEY = "online_violence"
SOURCES = ["cold", "toxicn", "chineseharm", "cyberbullying_roles"]


def main() -> None:
    args = parser(__doc__, model=False).parse_args()

    import mlflow
    import numpy as np
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    from qinglang.data.taxonomy import load_taxonomy
    from qinglang.features.tokenizer import JiebaTokenizer
    from qinglang.features.vectorizer import FeatureSettings, build_vectorizer
    from qinglang.models.keyword import KeywordBaseline
    from qinglang.models.multilabel import NBScaler
    from qinglang.models.registry import configure_tracking
    from qinglang.training.config import load_config
    from qinglang.training.train import assemble

    config, taxonomy = load_config(None), load_taxonomy(None)
    dataset, _ = assemble(config, args.data_dir, taxonomy)
    table = dataset.table[dataset.table[KEY].notna()]
    fit, dev = table[table["split"] == "train"], table[table["split"] == "dev"]
    vectorizer = build_vectorizer(FeatureSettings(), JiebaTokenizer())
    X, Xd = vectorizer.fit_transform(fit["text"].tolist()).tocsr(), vectorizer.transform(dev["text"].tolist()).tocsr()
    y, yd = fit[KEY].to_numpy().astype(int), dev[KEY].to_numpy().astype(int)
    nb = NBScaler().fit(X, y)
    N, Nd = nb.transform(X), nb.transform(Xd)

    def lr(C: float) -> LogisticRegression:
        return LogisticRegression(
            C=C, class_weight="balanced", solver="liblinear", max_iter=1000, random_state=config.seed
        )

    scores = {}
    scores["default"] = lr(2.0).fit(N, y).decision_function(Nd)
    scores["plain_lr"] = lr(4.0).fit(X, y).decision_function(Xd)
    scores["average"] = scores["default"] / scores["default"].std() + scores["plain_lr"] / scores["plain_lr"].std()

    j = taxonomy.keys.index(KEY)
    keyword = KeywordBaseline.from_taxonomy(taxonomy, args.data_dir)
    hit, hit_d = (np.nan_to_num(keyword.predict_proba(f["text"])[:, j])[:, None] for f in (fit, dev))
    scores["lexicon_hit"] = (
        lr(2.0).fit(sp.hstack([N, hit]).tocsr(), y).decision_function(sp.hstack([Nd, hit_d]).tocsr())
    )

    sources = sorted(fit["source"].unique())

    def augmented(M, row_sources):
        return sp.hstack([M] + [sp.diags((row_sources == s).astype(np.float32)) @ M for s in sources]).tocsr()

    model = lr(2.0).fit(augmented(N, fit["source"].to_numpy()), y)
    scores["source_shared"] = Nd @ model.coef_.ravel()[: N.shape[1]] + model.intercept_[0]
    scores["source_own"] = model.decision_function(augmented(Nd, dev["source"].to_numpy()))

    configure_tracking()
    mlflow.set_experiment("qinglang-online-violence-variants")
    figures = {}
    for name, s in scores.items():
        row = {"all": float(average_precision_score(yd, s))}
        for source in SOURCES:
            m = (dev["source"] == source).to_numpy()
            row[source] = float(average_precision_score(yd[m], s[m]))
        figures[name] = row
        with mlflow.start_run(run_name=name):
            mlflow.log_params({"variant": name, "category": KEY, "split": "dev"})
            mlflow.log_metrics({f"dev.{k}.{KEY}.average_precision": v for k, v in row.items()})
        print(f"{name:<14} " + " | ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
