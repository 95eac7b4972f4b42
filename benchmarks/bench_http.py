"""HTTP service latency, throughput and memory against a real `qinglang serve` process.

Starts `qinglang serve` on a free local port (--workers, default 1), waits for /readyz,
warms up, then measures with asyncio + httpx2:
  (a) open loop: single-item POST /v1/moderate at a fixed --rate for --duration seconds;
      request i is sent at t0 + i/rate whether or not earlier ones finished. Latency runs
      from the actual send; how late sends left (client-side scheduling lag) is reported
      too. Every request carries a distinct archive title.
  (b) batch: 100-item requests, closed loop, --batch-concurrency in flight, for
      --batch-duration seconds → items/s and request latency.
  (c) memory: VmHWM (peak) and VmRSS of every server process from /proc/<pid>/status.
  (d) qinglang_items_scored_total from /metrics, against what the client had scored.
The server is terminated (SIGTERM, then waited for) at the end, also on error.

Targets: p99 ≤ 20 ms at 50 requests/s with zero errors; batch ≥ 3,000 items/s;
RSS ≤ 400 MB (per server process, issue 19).

CAVEAT: the load generator runs on the same machine and competes with the server for
its cores, so these figures are pessimistic for the server alone.

    .venv/bin/python benchmarks/bench_http.py --model /tmp/qlw/full2 [--workers 1] [--rate 50] [--duration 60] [--json out.json]
"""

import asyncio
import gc
import os
import re
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx2
import psutil
from _common import VENV_BIN, archive_titles, machine, parser, percentile_ms, print_table, verdict, write_json

TARGET_P99_MS, TARGET_BATCH, TARGET_RSS_MB = 20.0, 3000.0, 400.0  # RSS: issue 19
BATCH_ITEMS = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 180.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before becoming ready")
        try:
            if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout:.0f} s")


def log_tail(path: str, lines: int = 20) -> str:
    return "".join(Path(path).read_text(errors="replace").splitlines(True)[-lines:])


def stop_server(proc: subprocess.Popen) -> bool:
    """SIGTERM, then SIGKILL after 30 s; True when it had to be killed."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True


def start_server(cmd: list[str]) -> tuple[subprocess.Popen, str]:
    """The server process, its output in a temporary log file (deleted after a good run)."""
    fd, path = tempfile.mkstemp(prefix="qinglang-bench-serve-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    return proc, path


def body(texts: list[str], start: int) -> dict:
    return {"items": [{"id": str(start + k), "text": t} for k, t in enumerate(texts)]}


async def open_loop(client: httpx2.AsyncClient, titles: list[str], rate: float, duration: float) -> dict:
    total = int(rate * duration)
    latencies, lateness, errors = [], [], []

    async def one(i: int, scheduled: float) -> None:
        sent = time.perf_counter()
        lateness.append(sent - scheduled)
        try:
            r = await client.post("/v1/moderate", json=body([titles[i]], i))
            if r.status_code != 200:
                errors.append(f"HTTP {r.status_code}")
                return
            latencies.append(time.perf_counter() - sent)
        except Exception as exc:  # counted, not raised: the load must keep its schedule
            errors.append(type(exc).__name__)

    tasks = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    return {
        "requests": total,
        "ok": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "achieved_rps": total / elapsed,
        "elapsed_s": elapsed,
        **{f"p{q}_ms": percentile_ms(latencies, q) for q in (50, 90, 99)},
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "send_late_p50_ms": percentile_ms(lateness, 50),
        "send_late_p99_ms": percentile_ms(lateness, 99),
        "send_late_max_ms": max(lateness) * 1000,
        "client_cpu_pct": 100 * (time.process_time() - cpu0) / elapsed,
    }


async def closed_loop(client: httpx2.AsyncClient, titles: list[str], concurrency: int, duration: float) -> dict:
    latencies, errors, next_batch = [], [], iter(range(10**9))
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + duration

    async def worker() -> None:
        while time.perf_counter() < deadline:
            b = next(next_batch)
            start = (b * BATCH_ITEMS) % (len(titles) - BATCH_ITEMS)
            sent = time.perf_counter()
            try:
                r = await client.post("/v1/moderate", json=body(titles[start : start + BATCH_ITEMS], start))
                if r.status_code == 200 and len(r.json()["items"]) == BATCH_ITEMS:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors.append(f"HTTP {r.status_code}")
            except Exception as exc:
                errors.append(type(exc).__name__)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "items_per_s": len(latencies) * BATCH_ITEMS / elapsed,
        "elapsed_s": elapsed,
        "p50_ms": percentile_ms(latencies, 50),
        "p99_ms": percentile_ms(latencies, 99),
        "client_cpu_pct": 100 * (time.process_time() - cpu0) / elapsed,
    }


def memory(pid: int) -> list[dict]:
    """VmHWM / VmRSS in MB of the server process and all its descendants."""
    out = []
    root = psutil.Process(pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            cmd = " ".join(proc.cmdline())[-60:]
        except (OSError, psutil.Error):
            continue
        kb = {k: int(v) for k, v in re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB", status, re.M)}
        out.append(
            {
                "pid": proc.pid,
                "cmd": cmd,
                "vm_hwm_mb": kb.get("VmHWM", 0) / 1024,
                "vm_rss_mb": kb.get("VmRSS", 0) / 1024,
            }
        )
    return out


def items_scored_metric(text: str) -> float:
    return sum(float(m) for m in re.findall(r"^qinglang_items_scored_total(?:\{[^}]*\})?\s+(\S+)", text, re.M))


async def run(base: str, titles: list[str], args) -> tuple[dict, dict, int]:
    limits = httpx2.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx2.AsyncClient(base_url=base, timeout=10.0, limits=limits) as client:
        warm = titles[-400:]  # outside the measured titles
        for i in range(50):
            await client.post("/v1/moderate", json=body([warm[i]], i))
        for i in range(3):
            await client.post("/v1/moderate", json=body(warm[100 + i * BATCH_ITEMS : 100 + (i + 1) * BATCH_ITEMS], i))
        warm_items = 50 + 3 * BATCH_ITEMS
        n_open = int(args.rate * args.duration)
        ol = await open_loop(client, titles[:n_open], args.rate, args.duration)
        bl = await closed_loop(client, titles[n_open:-400], args.batch_concurrency, args.batch_duration)
    return ol, bl, warm_items


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--workers", type=int, default=1, help="Server processes (default 1).")
    p.add_argument("--rate", type=float, default=50.0, help="Open-loop requests/s (default 50).")
    p.add_argument("--duration", type=float, default=60.0, help="Open-loop seconds (default 60).")
    p.add_argument("--batch-concurrency", type=int, default=2, help="Batch requests in flight (default 2).")
    p.add_argument("--batch-duration", type=float, default=30.0, help="Batch phase seconds (default 30).")
    args = p.parse_args()

    titles, load_s = archive_titles(args.data_dir)
    print(f"{len(titles):,} distinct archive titles loaded in {load_s:.1f} s")
    gc.collect()
    gc.freeze()  # keep full GC passes over the ~400k titles from stalling the load generator
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        str(VENV_BIN / "qinglang"),
        "serve",
        "--model",
        args.model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    proc, log_path = start_server(cmd)
    try:
        ready_s = wait_ready(base, proc)
        print(f"server pid {proc.pid} ({args.workers} worker(s)) ready on {base} after {ready_s:.1f} s")
        print(
            f"running: open loop {args.rate:g} req/s for {args.duration:g} s, then batches of {BATCH_ITEMS} x{args.batch_concurrency} for {args.batch_duration:g} s ..."
        )
        ol, bl, warm_items = asyncio.run(run(base, titles, args))
        mem = memory(proc.pid)
        scored = items_scored_metric(httpx2.get(f"{base}/metrics", timeout=10).text)
    except BaseException:
        print(f"\nserver log tail ({log_path}):\n" + log_tail(log_path))
        raise
    finally:
        killed = stop_server(proc)
    Path(log_path).unlink()  # kept only when the run failed
    client_items = warm_items + ol["ok"] + bl["ok"] * BATCH_ITEMS
    peak = max(m["vm_hwm_mb"] for m in mem)
    figures = {
        "machine": machine(),
        "model": args.model,
        "workers": args.workers,
        "server_ready_s": ready_s,
        "open_loop": {"rate": args.rate, "duration_s": args.duration, **ol},
        "batch": {
            "items_per_request": BATCH_ITEMS,
            "concurrency": args.batch_concurrency,
            "duration_s": args.batch_duration,
            **bl,
        },
        "memory": mem,
        "metrics_items_scored_total": scored,
        "client_items_scored": client_items,
        "server_exit_code": proc.returncode,
        "server_killed": killed,
        "targets_met": {
            "open_loop_p99": ol["p99_ms"] <= TARGET_P99_MS and ol["errors"] == 0 and ol["ok"] == ol["requests"],
            "batch_items_per_s": bl["items_per_s"] >= TARGET_BATCH and bl["errors"] == 0,
            "rss": peak <= TARGET_RSS_MB,
        },
    }
    met = figures["targets_met"]
    print(
        "\nCAVEAT: the load generator shares this machine's "
        f"{figures['machine']['cpus_available']} core(s) with the server; figures are pessimistic for the server alone."
    )
    print_table(
        f"(a) open loop: 1 item/request, {args.rate:g} req/s for {args.duration:g} s",
        [
            (
                "requests sent / ok / errors",
                f"{ol['requests']:,} / {ol['ok']:,} / {ol['errors']:,} {' '.join(ol['error_kinds'])}".rstrip(),
            ),
            ("achieved rate (req/s)", ol["achieved_rps"]),
            (
                "latency p50 / p90 / p99 / max (ms)",
                f"{ol['p50_ms']:.2f} / {ol['p90_ms']:.2f} / {ol['p99_ms']:.2f} / {ol['max_ms']:.2f}",
            ),
            (
                "send lateness p50 / p99 / max (ms)",
                f"{ol['send_late_p50_ms']:.2f} / {ol['send_late_p99_ms']:.2f} / {ol['send_late_max_ms']:.2f}",
            ),
            ("load generator CPU (% of one core)", ol["client_cpu_pct"]),
            (f"target p99 ≤ {TARGET_P99_MS:g} ms, 0 errors", verdict(met["open_loop_p99"])),
        ],
    )
    print_table(
        f"(b) batch: {BATCH_ITEMS} items/request, {args.batch_concurrency} in flight for {args.batch_duration:g} s",
        [
            ("requests ok / errors", f"{bl['ok']:,} / {bl['errors']:,} {' '.join(bl['error_kinds'])}".rstrip()),
            ("throughput (items/s)", bl["items_per_s"]),
            ("request latency p50 / p99 (ms)", f"{bl['p50_ms']:.1f} / {bl['p99_ms']:.1f}"),
            ("load generator CPU (% of one core)", bl["client_cpu_pct"]),
            (f"target ≥ {TARGET_BATCH:,.0f} items/s", verdict(met["batch_items_per_s"])),
        ],
    )
    print_table(
        "(c) server memory at the end (MB)",
        [
            *(
                (f"pid {m['pid']} {m['cmd'][-40:]}", f"VmHWM {m['vm_hwm_mb']:.0f}  VmRSS {m['vm_rss_mb']:.0f}")
                for m in mem
            ),
            (
                "sum over processes",
                f"VmHWM {sum(m['vm_hwm_mb'] for m in mem):.0f}  VmRSS {sum(m['vm_rss_mb'] for m in mem):.0f}",
            ),
            (f"target ≤ {TARGET_RSS_MB:g} MB per process", verdict(met["rss"])),
        ],
    )
    print_table(
        "(d) /metrics",
        [
            ("qinglang_items_scored_total", scored),
            ("items the client got 200s for (incl. warm-up)", client_items),
            ("server stop", f"{'KILLED after 30 s' if killed else 'exited on SIGTERM'} (exit code {proc.returncode})"),
        ],
    )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
