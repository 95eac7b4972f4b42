"""Out-of-core training at ten times the corpora: peak memory and COLD test metrics.

Writes the default run's fit rows (all corpora, merged and deduplicated) ten times over,
shuffled, to a temporary Parquet file in the canonical labeled format (deleted afterwards;
never a copy in the repository), trains `training/configs/streaming.yaml` with that file as
its only streamed fit source (`/usr/bin/time -v` for peak RSS), and prints COLD test
accuracy / macro-F1 of online_violence next to the in-memory model's (`--reference`, a
metrics.csv of a default run, e.g. runs/latest/metrics.csv).

    .venv/bin/python benchmarks/bench_streaming.py --reference runs/latest/metrics.csv --json runs/bench-streaming.json
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from _common import REPO_ROOT, VENV_BIN, machine, parser, verdict, write_json

TARGET_RSS_GB, TARGET_POINTS = 2.0, 2.0


def cold_test(metrics_csv: Path) -> dict:
    import pandas as pd

    m = pd.read_csv(metrics_csv)
    r = m[(m["split"] == "test") & (m["source"] == "cold") & (m["category"] == "online_violence")].iloc[0]
    return {
        "accuracy": float(r["accuracy"]),
        "macro_f1": float(r["macro_f1_2class"]),
        "average_precision": float(r["average_precision"]),
    }


def main() -> None:
    p = parser(__doc__, model=False)
    p.add_argument("--reference", type=Path, required=True, help="metrics.csv of the in-memory default run")
    p.add_argument("--times", type=int, default=10, help="How many copies of the fit rows (default 10).")
    args = p.parse_args()

    import numpy as np

    from qinglang.data.taxonomy import load_taxonomy
    from qinglang.training.config import load_config
    from qinglang.training.train import assemble

    config, taxonomy = load_config(None), load_taxonomy(None)
    dataset, _ = assemble(config, args.data_dir, taxonomy)
    fit = dataset.table[dataset.table["split"].isin(config.data.fit_splits)][["text", "source", *taxonomy.keys]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big = fit.iloc[np.tile(np.arange(len(fit)), args.times)]
        big = big.iloc[np.random.default_rng(0).permutation(len(big))].assign(split="train")
        big.to_parquet(tmp / "fit.parquet", index=False, row_group_size=20_000)
        rows = len(big)
        del big
        cfg = yaml.safe_load((REPO_ROOT / "training" / "configs" / "streaming.yaml").read_text("utf-8"))
        cfg["streaming"]["files"] = [{"path": str(tmp / "fit.parquet"), "source": "corpora_x10"}]
        (tmp / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
        started = time.perf_counter()
        proc = subprocess.run(
            [
                "/usr/bin/time",
                "-v",
                str(VENV_BIN / "qinglang"),
                "train",
                "--config",
                str(tmp / "config.yaml"),
                "--data-dir",
                str(args.data_dir),
                "--out",
                str(tmp / "run"),
                "--no-register",
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"training failed:\n{proc.stderr[-3000:]}")
        peak_gb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1)) / 2**20
        streamed = cold_test(tmp / "run" / "metrics.csv")
    reference = cold_test(args.reference)
    gap = {k: 100 * (reference[k] - streamed[k]) for k in reference}
    figures = {
        "machine": machine(),
        "rows_streamed": rows,
        "copies": args.times,
        "seconds": seconds,
        "peak_rss_gb": peak_gb,
        "cold_test_streaming": streamed,
        "cold_test_in_memory": reference,
        "gap_points": gap,
    }
    title = f"Out-of-core training on {args.times} x the corpora's fit rows ({rows:,} rows)"
    print(f"{title}\n{'-' * len(title)}")
    print(f"  wall clock (s)                              {seconds:.0f}")
    print(
        f"  peak RSS (GiB)                              {peak_gb:.2f}   ≤ {TARGET_RSS_GB:g}: {verdict(peak_gb <= TARGET_RSS_GB)}"
    )
    for k in reference:
        print(f"  COLD test {k:<18} streaming {streamed[k]:.3f}  in-memory {reference[k]:.3f}  gap {gap[k]:+.1f} pts")
    ok = gap["accuracy"] <= TARGET_POINTS and gap["macro_f1"] <= TARGET_POINTS
    print(f"  within {TARGET_POINTS:g} points (accuracy, macro-F1)       {verdict(ok)}")
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
