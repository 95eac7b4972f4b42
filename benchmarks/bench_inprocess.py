"""In-process scoring speed on ONE core (the Python API, no HTTP).

Pins the process to the first allowed CPU and BLAS/OpenMP to one thread, takes N distinct
titles of the Weibo trending archive (shuffled with seed 0) and measures:
  (a) Predictor.scores over batches of 1000            → titles/s
  (b) Predictor.predict over batches of 1000 (objects) → titles/s
  (c) Predictor.scores([t]) one title per call, 5000x  → titles/s, p50/p99 ms per call
  (d) jieba.lcut alone on the same titles (reference)  → titles/s
  (e) memory of this process: VmRSS after importing, after loading the Predictor (which
      warms it: jieba's dictionary, the compiled features), and VmHWM / VmRSS at the end.
      The archive titles the benchmark itself holds are loaded before the model and
      counted in every figure (about 160 MB): the Predictor's own share is the growth.

(a) is measured first, on titles never scored before; (b) and (c) score the same titles
again, so the tokenizer's small cache of HMM segmentations is warm for them.

Target (issue 19): ≥ 15,000 titles/s per core for batch scoring (a).

With --check-jieba it also segments every distinct archive title, raw and normalised, with
the qinglang tokenizer and with `jieba.Tokenizer.cut` and counts the differences (must be 0:
features/tokenizer.py re-implements jieba's precise mode), ~2 min.

    .venv/bin/python benchmarks/bench_inprocess.py --model /tmp/qlw/full2 [--n 50000] [--json out.json]
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported anywhere
CPU = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {CPU})

import time  # noqa: E402

from _common import archive_titles, machine, parser, percentile_ms, print_table, verdict, write_json  # noqa: E402

TARGET = 15_000.0
BATCH = 1000


def memory_mb() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        kb = dict(line.split(":", 1) for line in fh if line.startswith(("VmRSS", "VmHWM")))
    return {k: int(v.split()[0]) / 1024 for k, v in kb.items()}


def check_jieba(titles: list[str]) -> tuple[int, int]:
    """(texts compared, texts whose words differ from jieba's own precise mode)."""
    from qinglang.features.normalize import normalize_text
    from qinglang.features.tokenizer import _ONLY_PUNCT, JiebaTokenizer

    tok = JiebaTokenizer()
    jb = tok._jieba()
    texts = titles + [normalize_text(t) for t in titles]
    differ = 0
    for text in texts:
        if tok(text) != [w for w in jb.cut(text, HMM=True) if not _ONLY_PUNCT.match(w)]:
            differ += 1
            if differ <= 5:
                print(f"  differs from jieba: {text!r}")
    return len(texts), differ


def per_second(fn, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        fn(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=50_000, help="Titles for the batch measures (default 50000).")
    p.add_argument("--single", type=int, default=5000, help="Titles scored one per call (default 5000).")
    p.add_argument(
        "--check-jieba", action="store_true", help="Also compare the tokenizer with jieba on every archive title."
    )
    args = p.parse_args()

    titles, load_s = archive_titles(args.data_dir)
    texts = titles[: args.n]
    print(
        f"{len(titles):,} distinct archive titles loaded in {load_s:.1f} s; using {len(texts):,}, pinned to CPU {CPU}"
    )

    import jieba

    from qinglang.serve.predictor import Predictor

    rss_imports = memory_mb()["VmRSS"]
    started = time.perf_counter()
    predictor = Predictor.load(args.model)
    model_s = time.perf_counter() - started
    rss_loaded = memory_mb()["VmRSS"]
    warm = titles[-2000:]  # not among the measured titles
    predictor.scores(warm)
    predictor.predict(warm[:BATCH])
    for t in warm[:200]:
        predictor.scores([t])

    batch_rate = per_second(predictor.scores, texts, BATCH)
    predict_rate = per_second(predictor.predict, texts, BATCH)

    calls = []
    single_started = time.perf_counter()
    for t in texts[: args.single]:
        t0 = time.perf_counter()
        predictor.scores([t])
        calls.append(time.perf_counter() - t0)
    single_rate = len(calls) / (time.perf_counter() - single_started)

    jieba.initialize()
    for t in warm[:200]:
        jieba.lcut(t)
    started = time.perf_counter()
    for t in texts:
        jieba.lcut(t)
    jieba_rate = len(texts) / (time.perf_counter() - started)
    mem_end = memory_mb()

    jieba_checked = jieba_differ = None
    if args.check_jieba:
        jieba_checked, jieba_differ = check_jieba(titles)

    figures = {
        "machine": machine(),
        "cpu": CPU,
        "n": len(texts),
        "batch": BATCH,
        "model": args.model,
        "model_load_s": model_s,
        "scores_batch_titles_per_s": batch_rate,
        "predict_batch_titles_per_s": predict_rate,
        "single_calls": len(calls),
        "single_titles_per_s": single_rate,
        "single_p50_ms": percentile_ms(calls, 50),
        "single_p99_ms": percentile_ms(calls, 99),
        "jieba_lcut_titles_per_s": jieba_rate,
        "rss_after_imports_mb": rss_imports,
        "rss_after_predictor_load_mb": rss_loaded,
        "predictor_rss_growth_mb": rss_loaded - rss_imports,
        "vm_hwm_end_mb": mem_end["VmHWM"],
        "vm_rss_end_mb": mem_end["VmRSS"],
        "jieba_check_texts": jieba_checked,
        "jieba_check_differences": jieba_differ,
        "target_titles_per_s": TARGET,
        "target_met": batch_rate >= TARGET,
    }
    print_table(
        f"In-process scoring, one core (CPU {CPU}), {len(texts):,} titles",
        [
            ("model load (s)", model_s),
            (f"(a) scores, batches of {BATCH} (titles/s)", batch_rate),
            (f"(b) predict, batches of {BATCH} (titles/s)", predict_rate),
            (f"(c) scores, 1 title/call x {len(calls):,} (titles/s)", single_rate),
            ("    per-call p50 (ms)", figures["single_p50_ms"]),
            ("    per-call p99 (ms)", figures["single_p99_ms"]),
            ("(d) jieba.lcut alone (titles/s)", jieba_rate),
            ("(e) VmRSS after imports + titles (MB)", rss_imports),
            ("    VmRSS after Predictor.load (MB)", rss_loaded),
            ("    growth: the Predictor (MB)", rss_loaded - rss_imports),
            ("    VmHWM / VmRSS at the end (MB)", f"{mem_end['VmHWM']:.0f} / {mem_end['VmRSS']:.0f}"),
            *(
                [("tokenizer vs jieba: texts / differences", f"{jieba_checked:,} / {jieba_differ:,}")]
                if args.check_jieba
                else []
            ),
            (f"target (a) ≥ {TARGET:,.0f} titles/s", verdict(figures["target_met"])),
        ],
    )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
