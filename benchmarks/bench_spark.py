"""Spark scoring of the whole trending archive: `qinglang score --engine spark` on
`--master` (default local[2]) against in-process `qinglang score --jobs 2` on the same
Parquet file. Prints both wall times and checks that every flag (and every score, to
1e-9) agrees, row by row.

The model must be an MLflow model (Spark ships the logged pyfunc), e.g. the one
`make train` registers:

    .venv/bin/python benchmarks/bench_spark.py --model models:/qinglang@candidate --json runs/bench-spark.json
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import archive_titles, machine, parser, verdict, write_json


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--master", default="local[2]", help="Spark master (default local[2]).")
    args = p.parse_args()

    import numpy as np
    import pandas as pd

    from qinglang.batch.scoring import ScoreRequest, score_file
    from qinglang.batch.spark import SparkScoreRequest, score_parquet
    from qinglang.models.registry import load_bundle

    titles, load_seconds = archive_titles(args.data_dir, shuffle_seed=None)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "titles.parquet"
        pd.DataFrame({"row": np.arange(len(titles)), "text": titles}).to_parquet(src, index=False)

        started = time.perf_counter()
        bundle = load_bundle(args.model)
        summary = score_file(bundle, ScoreRequest(src, tmp / "local.parquet", "text", progress=False, jobs=2))
        local_seconds = time.perf_counter() - started

        spark_summary = score_parquet(SparkScoreRequest(args.model, str(src), str(tmp / "spark"), master=args.master))
        local = pd.read_parquet(tmp / "local.parquet").sort_values("row").reset_index(drop=True)
        spark = pd.read_parquet(tmp / "spark").sort_values("row").reset_index(drop=True)

    flags = [c for c in local.columns if c.startswith("flag_")]
    scores = [c for c in local.columns if c.startswith("score_")]
    same_rows = len(spark) == len(local) == len(titles) and (spark["row"].to_numpy() == local["row"].to_numpy()).all()
    flag_mismatches = int(sum((spark[c].to_numpy() != local[c].to_numpy()).sum() for c in flags)) if same_rows else -1
    score_gap = (
        max(float(np.nanmax(np.abs(spark[c].to_numpy(float) - local[c].to_numpy(float)), initial=0.0)) for c in scores)
        if same_rows
        else float("nan")
    )
    figures = {
        "machine": machine(),
        "model": args.model,
        "master": args.master,
        "rows": len(titles),
        "archive_load_seconds": load_seconds,
        "in_process_seconds": local_seconds,
        "in_process_jobs": summary.jobs,
        "spark_seconds": spark_summary.seconds,
        "same_rows": bool(same_rows),
        "flag_mismatches": flag_mismatches,
        "max_score_difference": score_gap,
    }
    title = (
        f"Whole archive, {len(titles):,} distinct titles: Spark ({args.master}) vs in-process (qinglang score --jobs 2)"
    )
    print(f"{title}\n{'-' * len(title)}")
    print(f"  in-process wall clock incl. model load (s)   {local_seconds:.1f}")
    print(f"  Spark wall clock incl. session, model (s)    {spark_summary.seconds:.1f}")
    print(f"  rows in / in-process / Spark                 {len(titles):,} / {len(local):,} / {len(spark):,}")
    print(f"  flags that differ                            {flag_mismatches}")
    print(f"  largest score difference                     {score_gap:.2e}")
    print(f"  same flags as in-process                     {verdict(same_rows and flag_mismatches == 0)}")
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
