"""Judgments on trending titles a model has not seen: the uniform rows of the labeled
trending dev split (2024-07 … 2024-12), scored as titles.

Prints, per operating point, harmful flags on titles not labeled harmful (per 100 and per
500 titles), the mean probability of each harmful category against its labeled share, the
recall of superstition, and celebrity_hype / trivial AP. The model must not have been
fitted on the dev split (the selection model of a run: `runs/<run>/bundle` of a config
without release_splits, or any model whose metadata says fit_splits: [train]).

    .venv/bin/python benchmarks/title_judgments.py --model runs/latest/selection-bundle [--json out.json]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from _common import parser, print_markdown_table, write_json
from sklearn.metrics import average_precision_score

from qinglang.data.taxonomy import TITLE
from qinglang.models.registry import load_bundle

TARGETS = {"auto": 1 / 500, "balanced": 1 / 100}  # harmful false flags per title, at most


def dev_rows(data_dir) -> pd.DataFrame:
    return pd.read_csv(data_dir / "weibo_trending_labeled" / "dev.csv", keep_default_na=False)


def superstition_recall(clf, keys: list[str], dev: pd.DataFrame, profile: str) -> tuple[float, int]:
    """Over every dev row labeled superstition (uniform and enriched: uniform rows have none)."""
    positives = dev[labels_of(dev, ["superstition"])["superstition"] == 1]
    if positives.empty:
        return float("nan"), 0
    proba = clf.predict_proba(positives["text"].tolist(), TITLE)
    flags = clf.flags(proba, profile, TITLE)[:, keys.index("superstition")]
    return float(flags.mean()), len(positives)


def labels_of(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    sets = rows["labels"].str.split(";").map(lambda xs: {x.strip() for x in xs if x.strip()})
    return pd.DataFrame({k: sets.map(lambda s, k=k: int(k in s)) for k in keys})


def main() -> None:
    args = parser(__doc__).parse_args()
    bundle = load_bundle(args.model)
    fitted_on = (bundle.metadata.get("data_config") or {}).get("fit_splits", [])
    if "dev" in fitted_on:
        sys.exit("this model was fitted on the dev split: use the run's selection model")
    dev = dev_rows(args.data_dir)
    rows = dev[dev["sample"] == "uniform"].reset_index(drop=True)
    clf, tax = bundle.classifier, bundle.taxonomy
    harmful = [c.key for c in tax.categories if c.group == "harmful"]
    y = labels_of(rows, tax.keys)
    proba = clf.predict_proba(rows["text"].tolist(), TITLE)
    out = {"titles": len(rows), "profiles": {}, "mean_probability": {}, "ap": {}}
    labeled_harmful = y[harmful].to_numpy().any(axis=1)
    table = []
    for profile in clf.profiles_:
        flags = clf.flags(proba, profile, TITLE)
        cols = [tax.keys.index(k) for k in harmful]
        false = int((flags[:, cols].any(axis=1) & ~labeled_harmful).sum())
        recall, n_sup = superstition_recall(clf, tax.keys, dev, profile)
        out["profiles"][profile] = {
            "harmful_false_flags": false,
            "superstition_recall": recall,
            "superstition_n": n_sup,
        }
        target = TARGETS.get(profile)
        verdict = "–" if target is None else ("met" if false / len(rows) <= target else "NOT met")
        table.append([profile, false, f"{100 * false / len(rows):.2f}", f"{recall:.2f} of {n_sup}", verdict])
    print_markdown_table(
        f"{len(rows)} uniform dev titles, harmful flags not labeled harmful",
        ["profile", "false flags", "per 100 titles", "superstition recall (all dev rows)", "target"],
        table,
    )
    rows_mean = []
    for k in harmful:
        j = tax.keys.index(k)
        mean, share = float(np.nanmean(proba[:, j])) if clf.trained_[j] else float("nan"), float(y[k].mean())
        out["mean_probability"][k] = {"mean": mean, "labeled": share}
        ok = "–" if np.isnan(mean) else ("met" if abs(mean - share) <= 0.01 else "NOT met")
        rows_mean.append([k, f"{100 * mean:.2f}%", f"{100 * share:.2f}%", ok])
    print_markdown_table(
        "mean probability vs labeled share (within 1 point)", ["category", "mean", "labeled", "target"], rows_mean
    )
    for k in ("celebrity_hype", "trivial"):
        j = tax.keys.index(k)
        out["ap"][k] = float(average_precision_score(y[k], proba[:, j]))
    print(f"AP on these titles: celebrity_hype {out['ap']['celebrity_hype']:.3f}, trivial {out['ap']['trivial']:.3f}")
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
