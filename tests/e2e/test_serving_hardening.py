"""`qinglang serve` as a real uvicorn process, seen by real clients: a refused oversized
body still reaches Python's urllib as a 413 (not a connection reset), and SIGTERM lets
every request sent before it finish with a complete 200. Serves the demo model from a
folder, so no corpora and no MLflow store are needed."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request

import pytest

pytestmark = [pytest.mark.slow]

KEY = "hardening-k3y"


@pytest.fixture(scope="module")
def model_dir(demo_bundle, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hardening") / "bundle"
    demo_bundle.save(folder)
    return folder


@pytest.fixture()
def server(model_dir, cli, port, running, tmp_path):
    """Start `qinglang serve` on the demo model: server(*extra_args, env=...) -> (process, base url)."""
    started = []

    def start(*extra: str, env: dict | None = None):
        url = f"http://127.0.0.1:{port}"
        argv = cli("serve", "--model", str(model_dir), "--port", str(port), *extra)
        context = running(argv, f"{url}/healthz", tmp_path / "serve.log", env={**os.environ, **(env or {})})
        proc = context.__enter__()
        started.append(context)
        return proc, url

    yield start
    for context in started:
        context.__exit__(None, None, None)


def urllib_post(url: str, body: bytes, headers: dict | None = None) -> tuple[int | str, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError as err:  # connection reset, refused, ...
        return f"{type(err).__name__}: {err}", b""


def test_urllib_sees_the_413_of_an_oversized_body_and_the_401_of_a_wrong_key(server):
    """urllib sends `Connection: close` and the whole body before it reads the answer: a
    server that answers early and closes resets the connection under it."""
    _, url = server(env={"QINGLANG_API_KEY": KEY})
    big = b'{"items": [{"id": "1", "text": "' + b"x" * (12 * 1024 * 1024) + b'"}]}'
    auth = {"Authorization": f"Bearer {KEY}"}
    for _ in range(3):
        status, raw = urllib_post(f"{url}/v1/moderate", big, auth)
        assert status == 413, status
        assert json.loads(raw)["error"]["code"] == "body_too_large"
        status, raw = urllib_post(f"{url}/v1/moderate", big, {"Authorization": "Bearer wrong"})
        assert status == 401, status
        assert json.loads(raw)["error"]["code"] == "unauthorized"
        status, raw = urllib_post(f"{url}/v1/taxonomy", big, auth)  # a route that never reads a body
        assert status == 405, status
    status, raw = urllib_post(f"{url}/v1/moderate", b'{"items": [{"id": "1", "text": "hi"}]}', auth)
    assert status == 200 and json.loads(raw)["items"][0]["id"] == "1"  # and it keeps serving


N_ITEMS = 40  # a few ms of scoring per request


def moderate_body(i: int) -> bytes:
    items = [{"id": f"{i}-{j}", "text": f"顶流小A机场私服又火了{j}，明天全国大部分地区有雨"} for j in range(N_ITEMS)]
    return json.dumps({"items": items}, ensure_ascii=False).encode()


class Client(threading.Thread):
    """Sends requests one after another on one keep-alive connection (a new one when the
    server closes it) until `stop` is set; `results`: (sent at, status, body) per request,
    "sent at" being when its last byte was handed to the socket (None: not even connected)."""

    def __init__(self, url: str, number: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.address = url.removeprefix("http://")
        self.number, self.stop = number, stop
        self.results: list[tuple[float | None, int | str, dict | None]] = []

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.address, timeout=120)
        k = 0
        while not self.stop.is_set():
            sent_at = None
            try:
                conn.request("POST", "/v1/moderate", moderate_body(self.number * 1000 + k), JSON)
                sent_at = time.monotonic()
                response = conn.getresponse()
                self.results.append((sent_at, response.status, json.loads(response.read())))
            except (OSError, http.client.HTTPException, json.JSONDecodeError) as exc:
                self.results.append((sent_at, f"{type(exc).__name__}: {exc}", None))
                conn.close()
            k += 1
        conn.close()


JSON = {"Content-Type": "application/json"}
DRAIN = 2.5  # seconds the server keeps serving after SIGTERM
LOAD_AFTER = 1.0  # seconds the clients keep sending after SIGTERM, well inside the drain


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_every_request_sent_before_it_finish(server, workers):
    """Twelve clients keep the server busy; SIGTERM comes mid-way. Every request sent before
    it, and every one sent during the drain that follows (load balancers take a moment to
    see the 503), gets a complete 200: none is reset, none refused."""
    proc, url = server(
        "--workers", str(workers), env={"QINGLANG_DRAIN_SECONDS": str(DRAIN), "QINGLANG_GRACEFUL_TIMEOUT": "60"}
    )
    stop = threading.Event()
    clients = [Client(url, n, stop) for n in range(12)]
    for c in clients:
        c.start()
    time.sleep(2.0)
    signalled_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    readiness = []
    while time.monotonic() < signalled_at + LOAD_AFTER:
        readiness.append(urllib_get(f"{url}/readyz")[0])
        time.sleep(0.05)
    stop.set()
    for c in clients:
        c.join(120)
    results = [r for c in clients for r in c.results]
    failed = [r[1] for r in results if r[1] != 200]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {sorted(set(failed))[:5]}"
    assert all(len(r[2]["items"]) == N_ITEMS for r in results)
    assert sum(1 for r in results if r[0] < signalled_at) > 20 and sum(1 for r in results if r[0] > signalled_at) > 5
    assert readiness[-1] == 503 and set(readiness) <= {200, 503}  # not ready while it drains (at once with 1 worker;
    assert workers > 1 or set(readiness) == {503}  # the supervisor passes the signal on within half a second)
    assert proc.wait(60) in (0, -signal.SIGTERM)


def urllib_get(url: str) -> tuple[int | str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError as err:
        return f"{type(err).__name__}: {err}", b""
