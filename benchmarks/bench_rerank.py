"""POST /v1/trending/rerank latency against a real `qinglang serve` process.

Builds 50-entry lists from real archive days (titles and their band_rank, else the list
position), starts `qinglang serve` with the shipped re-rank policy (or --policy) on a free
port, warms up, then sends one list every 1/--rate seconds for --duration seconds in an
open loop: request i leaves at t0 + i/rate whether or not earlier ones finished. Every
response is checked (50 decisions, each with an action). Also times the in-process
Reranker on the same lists.

Target: p99 <= 20 ms at 20 requests/s with zero errors.

CAVEAT: the load generator shares this machine's 2 cores with the server.

    .venv/bin/python benchmarks/bench_rerank.py --model runs/latest/bundle [--rate 20] [--duration 60] [--json out.json]
"""

import asyncio
import hashlib
import json
import time
from pathlib import Path

import httpx2
from _common import VENV_BIN, machine, parser, percentile_ms, print_table, verdict, write_json
from bench_http import free_port, log_tail, start_server, stop_server, wait_ready

TARGET_P99_MS, LIST_SIZE = 20.0, 50


def day_lists(data_dir: Path, n: int) -> list[list[dict]]:
    """`n` lists of LIST_SIZE entries, each from a different archive day (cycled)."""
    from qinglang.data.loaders.archive import band_rank, day_files

    lists = []
    files = [p for _, p in day_files(Path(data_dir) / "weibo_trending" / "raw")]
    for path in files:
        try:
            records = json.loads(path.read_text("utf-8"))
        except ValueError:
            continue
        seen, entries = set(), []
        for i, rec in enumerate(records if isinstance(records, list) else [], start=1):
            title = (rec.get("title") or "").strip() if isinstance(rec, dict) else ""
            if not title or title in seen:
                continue
            seen.add(title)
            entries.append(
                {
                    "id": hashlib.sha1(title.encode()).hexdigest()[:12],
                    "title": title,
                    "rank": band_rank(rec.get("url")) or i,
                }
            )
            if len(entries) == LIST_SIZE:
                lists.append(entries)
                break
    if not lists:
        raise SystemExit("no archive day with 50 distinct titles")
    return [lists[i % len(lists)] for i in range(n)]


async def open_loop(client: httpx2.AsyncClient, lists: list[list[dict]], rate: float) -> dict:
    latencies, errors = [], []

    async def one(i: int) -> None:
        sent = time.perf_counter()
        try:
            r = await client.post("/v1/trending/rerank", json={"entries": lists[i]})
            ok = (
                r.status_code == 200
                and len(r.json()["entries"]) == LIST_SIZE
                and all(e["action"] for e in r.json()["entries"])
            )
            if not ok:
                errors.append(f"HTTP {r.status_code}")
                return
            latencies.append(time.perf_counter() - sent)
        except Exception as exc:  # counted, not raised: the load keeps its schedule
            errors.append(type(exc).__name__)

    tasks, t0 = [], time.perf_counter()
    for i in range(len(lists)):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return {
        "requests": len(lists),
        "ok": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "achieved_rps": len(lists) / elapsed,
        **{f"p{q}_ms": percentile_ms(latencies, q) for q in (50, 90, 99)},
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
    }


async def run(base: str, lists: list[list[dict]], rate: float) -> dict:
    async with httpx2.AsyncClient(base_url=base, timeout=10.0) as client:
        for entries in lists[-20:]:
            await client.post("/v1/trending/rerank", json={"entries": entries})
        return await open_loop(client, lists, rate)


def in_process(model: str, lists: list[list[dict]], policy: str | None) -> dict:
    from qinglang.models.registry import load_bundle
    from qinglang.trending.rerank import Reranker, entries_from_records

    bundle = load_bundle(model).warm_up()
    reranker = Reranker.from_file(policy, bundle)
    seconds = []
    for entries in lists[:500]:
        parsed = entries_from_records(entries)
        started = time.perf_counter()
        reranker.rerank(parsed)
        seconds.append(time.perf_counter() - started)
    return {"lists": len(seconds), "p50_ms": percentile_ms(seconds, 50), "p99_ms": percentile_ms(seconds, 99)}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rate", type=float, default=20.0, help="Requests/s (default 20).")
    p.add_argument("--duration", type=float, default=60.0, help="Seconds (default 60).")
    p.add_argument("--policy", default=None, help="Policy YAML (default: the shipped one).")
    args = p.parse_args()

    lists = day_lists(args.data_dir, int(args.rate * args.duration))
    print(f"{len(lists)} lists of {LIST_SIZE} archive entries")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [str(VENV_BIN / "qinglang"), "serve", "--model", args.model, "--host", "127.0.0.1", "--port", str(port)]
    if args.policy:
        cmd += ["--policy", args.policy]
    proc, log_path = start_server(cmd)
    try:
        ready_s = wait_ready(base, proc)
        print(f"server ready after {ready_s:.1f} s; {args.rate:g} lists/s for {args.duration:g} s ...")
        http = asyncio.run(run(base, lists, args.rate))
    except BaseException:
        print(f"\nserver log tail ({log_path}):\n" + log_tail(log_path))
        raise
    finally:
        stop_server(proc)
    Path(log_path).unlink()  # kept only when the run failed
    local = in_process(args.model, lists, args.policy)
    ok = http["errors"] == 0 and http["p99_ms"] <= TARGET_P99_MS
    print_table(
        f"POST /v1/trending/rerank, {LIST_SIZE} entries, open loop at {args.rate:g} req/s",
        [
            (
                "requests / ok / errors",
                f"{http['requests']} / {http['ok']} / {http['errors']} {http['error_kinds'] or ''}",
            ),
            ("achieved req/s", http["achieved_rps"]),
            (
                "p50 / p90 / p99 / max ms",
                f"{http['p50_ms']:.1f} / {http['p90_ms']:.1f} / {http['p99_ms']:.1f} / {http['max_ms']:.1f}",
            ),
            (f"p99 <= {TARGET_P99_MS:g} ms, 0 errors", verdict(ok)),
            ("in-process rerank p50 / p99 ms", f"{local['p50_ms']:.2f} / {local['p99_ms']:.2f}"),
        ],
    )
    write_json(
        args.json,
        {
            "machine": machine(),
            "model": args.model,
            "rate": args.rate,
            "duration": args.duration,
            "http": http,
            "in_process": local,
            "target_met": ok,
        },
    )


if __name__ == "__main__":
    main()
