"""Model-selection experiments: the default config with one change each, evaluated on dev
splits only, every run tracked in MLflow (experiment `qinglang-ablation`).

Each experiment is a list of (dotted config path, value) changes to
training/configs/default.yaml; the value DELETE removes the key, None sets it to null. All runs set
`data.eval_splits: [dev]`, so no test split is read or scored: these figures choose
settings, and test figures come only from the chosen model. Prints, and writes as JSON,
per experiment: COLD dev accuracy / macro-F1 / AP of online_violence, and dev AP per
category (all sources pooled, and the labeled trending set alone).

    .venv/bin/python benchmarks/ablation.py --json runs/ablation.json [--only base,no_phonetic]
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import REPO_ROOT, parser, write_json

DEFAULT = REPO_ROOT / "training" / "configs" / "default.yaml"
DELETE = "<delete>"

EXPERIMENTS: dict[str, list[tuple[str, object]]] = {
    "base": [],
    "no_deobfuscation": [("features.deobfuscate", False), ("features.phonetic", DELETE)],
    "no_phonetic_map": [("features.phonetic", DELETE)],
    "online_violence_plain": [("model.categories.online_violence", DELETE)],
    "trivial_no_self_training": [("model.categories.trivial", DELETE)],
    "balanced_is_best_f1": [("thresholds.profiles.balanced", {"strategy": "f1"})],
    "online_violence_cold_only": [("model.categories.online_violence.fit_sources", ["cold"])],
    "online_violence_C1": [("model.categories.online_violence.C", 1.0)],
    "chars_1_4": [("features.char_ngrams", [1, 4])],
    "words_1_3": [("features.word_ngrams", [1, 3])],
    "celebrity_self_training": [
        ("model.categories.celebrity_hype", {"self_training": {"n_positive": 15000, "weight": 0.3}})
    ],
    "archive_words": [("features.archive_words", {"min_count": 20, "max_words": 20000})],
    "online_violence_without_roles": [
        ("model.categories.online_violence.fit_sources", ["cold", "toxicn", "chineseharm"])
    ],
    "online_violence_cold_toxicn": [("model.categories.online_violence.fit_sources", ["cold", "toxicn"])],
    "online_violence_C4": [("model.categories.online_violence.C", 4.0)],
    "no_sublinear_tf": [("features.sublinear_tf", False)],
    "no_class_weight": [("model.class_weight", None), ("model.categories.online_violence.class_weight", "none")],
}


def changed(config: dict, changes: list[tuple[str, object]]) -> dict:
    out = copy.deepcopy(config)
    for path, value in changes:
        *parents, last = path.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        if value == DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    out["data"]["eval_splits"] = ["dev"]
    out.setdefault("mlflow", {})["experiment"] = "qinglang-ablation"
    return out


def figures(out_dir: Path) -> dict:
    import pandas as pd

    m = pd.read_csv(out_dir / "metrics.csv")
    dev = m[(m["split"] == "dev") & (m["status"] == "ok")]
    cold = dev[(dev["source"] == "cold") & (dev["category"] == "online_violence")].iloc[0]
    return {
        "cold_dev_online_violence": {k: float(cold[k]) for k in ("accuracy", "macro_f1_2class", "average_precision")},
        "dev_ap_all_sources": {
            r.category: float(r.average_precision) for r in dev[dev["source"] == "all"].itertuples()
        },
        "dev_ap_trending": {
            r.category: float(r.average_precision) for r in dev[dev["source"] == "weibo_trending_labeled"].itertuples()
        },
    }


def markdown(results: dict) -> str:
    """One row per experiment: COLD dev accuracy, then dev AP per category (all sources),
    each as the change against `base` where base ran."""
    done = {k: v for k, v in results.items() if "error" not in v}
    first = list(next(iter(done.values()))["dev_ap_all_sources"])
    cats = [c for c in first if c != "_micro"]  # micro AP is not defined over partly known labels
    base = done.get("base")
    head = "| experiment | COLD dev acc | " + " | ".join(cats) + " |"
    lines = [head, "|" + "---|" * (len(cats) + 2)]
    for name, r in done.items():

        def cell(value: float | None, ref: float | None, name: str = name) -> str:
            if value is None:
                return "–"
            return f"{value:.3f}" if base is None or name == "base" or ref is None else f"{value - ref:+.3f}"

        acc = r["cold_dev_online_violence"]["accuracy"]
        row = [cell(acc, base and base["cold_dev_online_violence"]["accuracy"])]
        row += [cell(r["dev_ap_all_sources"].get(c), base and base["dev_ap_all_sources"].get(c)) for c in cats]
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main() -> None:
    p = parser(__doc__, model=False)
    p.add_argument("--only", default=None, help="Comma-separated experiment names (default: all).")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "runs" / "ablation", help="Run folders go here.")
    p.add_argument(
        "--table", type=Path, default=None, help="Only print the Markdown table of this earlier --json file."
    )
    args = p.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text("utf-8"))))
        return
    names = args.only.split(",") if args.only else list(EXPERIMENTS)
    unknown = sorted(set(names) - set(EXPERIMENTS))
    if unknown:
        sys.exit(f"unknown experiments {unknown}; known: {', '.join(EXPERIMENTS)}")
    base = yaml.safe_load(DEFAULT.read_text("utf-8"))
    results = {}
    for name in names:
        out_dir = args.out / name
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8") as f:
            yaml.safe_dump(changed(base, EXPERIMENTS[name]), f, allow_unicode=True, sort_keys=False)
        started = time.perf_counter()
        cmd = [
            str(REPO_ROOT / ".venv" / "bin" / "qinglang"),
            "train",
            "--config",
            f.name,
            "--data-dir",
            str(args.data_dir),
            "--out",
            str(out_dir),
            "--no-register",
        ]
        done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
        Path(f.name).unlink()
        if done.returncode != 0:
            print(f"{name}: FAILED\n{done.stderr[-2000:]}")
            results[name] = {"changes": EXPERIMENTS[name], "error": done.stderr[-2000:]}
            continue
        results[name] = {"changes": EXPERIMENTS[name], "seconds": time.perf_counter() - started, **figures(out_dir)}
        r = results[name]
        cold, trend = r["cold_dev_online_violence"], r["dev_ap_trending"]
        print(
            f"{name:<28} COLD dev acc {cold['accuracy']:.4f} macro-F1 {cold['macro_f1_2class']:.4f} AP {cold['average_precision']:.4f}"
            f" | trending AP celebrity {trend.get('celebrity_hype', float('nan')):.3f} trivial {trend.get('trivial', float('nan')):.3f}"
            f" | {r['seconds']:.0f} s",
            flush=True,
        )
        write_json(args.json, results)
    print("\nDev AP per category (all sources) and COLD dev accuracy; rows other than base: change against base\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
