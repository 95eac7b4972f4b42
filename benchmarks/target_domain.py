"""Your own domain first: a model trained with a target source (data.source_weights) against
a specialist that sees only that source, on the target's held-out test rows.

The specialist is the plain char 1–3 TF-IDF + logistic regression (models/char_baseline.py)
fitted on the target source's train rows only; both are scored on its test rows, with a
paired bootstrap of the AP difference.

    .venv/bin/python benchmarks/target_domain.py --model runs/chineseharm/bundle [--source chineseharm]
"""

from __future__ import annotations

import numpy as np
from _common import parser, write_json

from qinglang.data.dataset import Sampling, build_dataset
from qinglang.models.char_baseline import CharNgramBaseline
from qinglang.models.registry import load_bundle
from qinglang.training.compare import ComparisonSettings, compare_scores, format_comparison
from qinglang.training.metrics import row_kinds


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--source", default="chineseharm")
    p.add_argument("--categories", default="vulgar,online_violence")
    args = p.parse_args()
    bundle = load_bundle(args.model)
    keys = args.categories.split(",")
    settings = bundle.metadata["data_config"]
    sampling = Sampling(settings["dev_fraction"], settings["test_fraction"])
    table = build_dataset(bundle.taxonomy, data_dir=args.data_dir, corpora=[args.source], sampling=sampling).table
    train, test = table[table["split"] == "train"], table[table["split"] == "test"].reset_index(drop=True)
    specialist = CharNgramBaseline(keys).fit(train["text"], train[keys].to_numpy(dtype="float64", na_value=np.nan))
    base = specialist.predict_proba(test["text"])
    cols = [bundle.categories.index(k) for k in keys]
    proba = bundle.classifier.predict_proba(test["text"], row_kinds(test))
    flags = bundle.classifier.flags(proba, None, row_kinds(test))
    comparison = compare_scores(
        test,
        keys,
        (base, (base >= 0.5).astype(np.int8)),
        (proba[:, cols], flags[:, cols]),
        ComparisonSettings(metrics=("average_precision",)),
    )
    print(f"{args.source} test rows: {len(test)}; specialist fitted on its {len(train)} train rows")
    print("baseline = specialist (char 1-3 TF-IDF + LR on the target only), candidate = the model\n")
    print(format_comparison(comparison))
    write_json(args.json, {"rows": len(test), "comparison": comparison.to_dict(orient="records")})


if __name__ == "__main__":
    main()
