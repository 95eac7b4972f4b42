"""Batch scoring of the whole Weibo trending archive with `qinglang score`.

Loads the archive's distinct titles (timed), writes them to a CSV with a `text` column in
a temporary folder (timed), then runs `qinglang score --jobs N` on it to Parquet as a
subprocess and reports its wall clock, rows/s and peak memory:
  - "largest process" peak RSS from `/usr/bin/time -v` (when installed), and
  - "process tree" peak of the summed RSS of all scoring processes, polled with psutil
    every 0.2 s (forked workers share the model copy-on-write, so the sum over-counts).
Finally checks that the output has one row per input row, in input order.

Targets: ≤ 60 s wall clock to score the whole archive (~400k titles) on 2 cores; peak RSS
of the largest process ≤ 400 MB (issue 19; measure it with --jobs 1, where that process
does all the work).

    .venv/bin/python benchmarks/bench_batch.py --model /tmp/qlw/full2 [--jobs 2] [--json out.json]
"""

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import pyarrow.parquet as pq
from _common import VENV_BIN, archive_titles, machine, parser, print_table, verdict, write_json

TARGET_S = 60.0
TARGET_RSS_MB = 400.0
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def tree_rss_mb(root: psutil.Process) -> float:
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--jobs", type=int, default=2, help="Worker processes for `qinglang score` (default 2).")
    args = p.parse_args()

    titles, load_s = archive_titles(args.data_dir, shuffle_seed=None)
    with tempfile.TemporaryDirectory(prefix="qinglang-bench-batch-") as tmp:
        src, out = Path(tmp) / "titles.csv", Path(tmp) / "scored.parquet"
        started = time.perf_counter()
        pd.DataFrame({"text": titles}).to_csv(src, index=False)
        write_s = time.perf_counter() - started

        cmd = [
            str(VENV_BIN / "qinglang"),
            "score",
            "--model",
            args.model,
            "--input",
            str(src),
            "--output",
            str(out),
            "--text-column",
            "text",
            "--jobs",
            str(args.jobs),
            "--no-progress",
        ]
        if GNU_TIME:
            cmd = [GNU_TIME, "-v", *cmd]
        print(
            f"{len(titles):,} titles loaded in {load_s:.1f} s, CSV ({src.stat().st_size / 2**20:.0f} MB) written in {write_s:.1f} s"
        )
        print("running:", " ".join(cmd))
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        root, peak_tree = psutil.Process(proc.pid), 0.0
        while proc.poll() is None:
            peak_tree = max(peak_tree, tree_rss_mb(root))
            time.sleep(0.2)
        score_s = time.perf_counter() - started
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"qinglang score failed with exit code {proc.returncode}:\n{stderr[-3000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
        peak_single = int(m.group(1)) / 1024 if m else None
        out_rows = pq.read_metadata(out).num_rows
        same_order = pq.read_table(out, columns=["text"]).column("text").to_pylist() == titles
        out_mb = out.stat().st_size / 2**20

    figures = {
        "machine": machine(),
        "model": args.model,
        "jobs": args.jobs,
        "rows_in": len(titles),
        "rows_out": out_rows,
        "rows_match": out_rows == len(titles),
        "texts_in_input_order": same_order,
        "load_archive_s": load_s,
        "write_csv_s": write_s,
        "score_s": score_s,
        "rows_per_s": len(titles) / score_s,
        "total_s": load_s + write_s + score_s,
        "output_mb": out_mb,
        "peak_rss_largest_process_mb": peak_single,
        "peak_rss_process_tree_sum_mb": peak_tree,
        "cli_output": stdout.strip(),
        "target_s": TARGET_S,
        "target_met": score_s <= TARGET_S,
        "target_rss_mb": TARGET_RSS_MB,
        "target_rss_met": None if peak_single is None else peak_single <= TARGET_RSS_MB,
    }
    print(stdout.strip())
    print_table(
        f"Batch scoring: whole archive, qinglang score --jobs {args.jobs}",
        [
            ("load archive (s)", load_s),
            ("write CSV (s)", write_s),
            ("qinglang score wall clock (s)", score_s),
            ("rows/s (scoring)", figures["rows_per_s"]),
            ("load + write + score (s)", figures["total_s"]),
            (
                "rows in / rows out",
                f"{len(titles):,} / {out_rows:,} ({'match' if figures['rows_match'] else 'MISMATCH'})",
            ),
            ("output texts in input order", same_order),
            ("Parquet output (MB)", out_mb),
            (
                "peak RSS, largest process (MB, time -v)",
                "n/a (no /usr/bin/time)" if peak_single is None else peak_single,
            ),
            ("peak RSS, sum over process tree (MB)", peak_tree),
            (f"target scoring ≤ {TARGET_S:g} s", verdict(figures["target_met"])),
            (
                f"target peak RSS ≤ {TARGET_RSS_MB:g} MB (largest process)",
                "n/a" if peak_single is None else verdict(figures["target_rss_met"]),
            ),
        ],
    )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
