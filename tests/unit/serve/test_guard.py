"""RequestGuard (serve/http/guard.py): metric labels that stay bounded whatever clients send,
answers that wait for the unread body (so that every client sees them), and the shutdown
behaviour (not ready, connections closed after their answer). The body tests drive the
app as ASGI directly, to see when each part of the body is read."""

import asyncio
import re

import pytest
from fastapi.testclient import TestClient

from qinglang.models.registry import ModelInfo
from qinglang.serve.http import create_app
from qinglang.serve.http.guard import DRAIN_LIMIT, method_label, status_label
from qinglang.serve.lifecycle import Lifecycle
from qinglang.serve.predictor import Predictor
from qinglang.serve.settings import HttpSettings

LIMITS = HttpSettings(max_items=5, max_text_chars=50, max_body_bytes=4000)


@pytest.fixture(scope="module")
def predictor(demo_bundle):
    return Predictor(demo_bundle, ModelInfo("qinglang", "3", "demo0000", "models:/qinglang@candidate"))


def request_lines(client: TestClient) -> list[str]:
    return [
        line for line in client.get("/metrics").text.splitlines() if line.startswith("qinglang_http_requests_total")
    ]


def test_metric_labels_stay_bounded_whatever_the_requests(predictor):
    """Invented methods, paths and statuses must not each add a time series."""
    client = TestClient(create_app(predictor, LIMITS, Lifecycle()))
    for i in range(100):
        client.request(f"X{i}METHOD", "/healthz")
        client.get(f"/invented/{i}")
        client.request(f"Y{i}", f"/invented/{i}")
    lines = request_lines(client)
    assert len(lines) <= 4, lines
    labels = {tuple(re.findall(r'(\w+)="([^"]*)"', line)) for line in lines}
    assert (("method", "other"), ("route", "/healthz"), ("status", "405")) in labels
    assert (("method", "GET"), ("route", "other"), ("status", "404")) in labels
    assert not any("X1" in line or "invented" in line for line in lines)


def test_metric_label_values():
    assert [method_label(m) for m in ("GET", "POST", "HEAD", "OPTIONS", "get", "BREW", "X" * 100)] == [
        "GET",
        "POST",
        "HEAD",
        "OPTIONS",
        "other",
        "other",
        "other",
    ]
    assert [status_label(s) for s in (200, 401, 413, 422, 500, 503, 201, 418, 502, 304)] == [
        "200",
        "401",
        "413",
        "422",
        "500",
        "503",
        "2xx",
        "4xx",
        "5xx",
        "3xx",
    ]


def call(app, method: str, path: str, headers: dict, chunks: list[bytes]) -> dict:
    """Run one request through the ASGI app; returns the response start and how many body
    chunks had been read when it was sent, and in all."""
    state = {"read": 0, "read_at_start": None, "start": None, "body": b""}
    pending = list(chunks)

    async def receive():
        if not pending:
            return {"type": "http.disconnect"}
        state["read"] += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message):
        if message["type"] == "http.response.start":
            state["start"], state["read_at_start"] = message, state["read"]
        else:
            state["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    state["headers"] = {k.decode().lower(): v.decode() for k, v in state["start"]["headers"]}
    return state


MB = 1024 * 1024
BIG = [b"x" * MB] * 12  # 12 MB: over the 4000-byte limit, under DRAIN_LIMIT


@pytest.mark.parametrize(
    "method, path, headers, status",
    [
        ("POST", "/v1/moderate", {"content-type": "application/json", "content-length": str(12 * MB)}, 413),
        ("POST", "/v1/moderate", {"content-type": "application/json", "transfer-encoding": "chunked"}, 413),
        ("POST", "/v1/moderate", {"content-type": "text/plain", "content-length": str(12 * MB)}, 415),
        ("POST", "/v1/taxonomy", {"content-type": "application/json", "content-length": str(12 * MB)}, 405),
        ("POST", "/nowhere", {"content-length": str(12 * MB)}, 404),
    ],
)
def test_an_answer_waits_until_the_unread_body_is_read(predictor, method, path, headers, status):
    """urllib sends its whole body before it reads the answer, with `Connection: close`: an
    answer sent (and the connection closed) before the body is in is a reset to it."""
    app = create_app(predictor, LIMITS, Lifecycle())
    got = call(app, method, path, headers, list(BIG))
    assert got["start"]["status"] == status
    assert got["read_at_start"] == len(BIG)  # every chunk read (and discarded) before the answer
    assert "connection" not in got["headers"]  # the connection can be kept


def test_the_key_is_refused_after_the_body_is_drained_too(predictor):
    app = create_app(predictor, HttpSettings(api_key="k"), Lifecycle())
    got = call(app, "POST", "/v1/moderate", {"content-type": "application/json", "content-length": str(12 * MB)}, BIG)
    assert got["start"]["status"] == 401 and got["read_at_start"] == len(BIG)


def test_a_body_over_the_drain_limit_or_awaiting_100_continue_is_not_read_and_the_connection_closes(predictor):
    app = create_app(predictor, LIMITS, Lifecycle())
    huge = {"content-type": "application/json", "content-length": str(DRAIN_LIMIT + 10 * MB)}
    got = call(app, "POST", "/v1/moderate", huge, list(BIG))
    assert got["start"]["status"] == 413 and got["read_at_start"] == 0 and got["headers"]["connection"] == "close"
    waiting = {"content-type": "application/json", "content-length": str(12 * MB), "expect": "100-continue"}
    got = call(app, "POST", "/v1/moderate", waiting, list(BIG))  # reading would ask for the body it refuses
    assert got["start"]["status"] == 413 and got["read_at_start"] == 0 and got["headers"]["connection"] == "close"
    chunked = {"content-type": "application/json", "transfer-encoding": "chunked"}
    endless = [b"x" * (8 * MB)] * (DRAIN_LIMIT // (8 * MB) + 4)
    got = call(app, "POST", "/v1/moderate", chunked, endless)
    assert got["start"]["status"] == 413 and got["headers"]["connection"] == "close"
    assert got["read_at_start"] < len(endless)  # it gave up reading past the limit


def test_while_shutting_down_readiness_fails_and_connections_close_after_their_answer(predictor):
    lifecycle = Lifecycle()
    client = TestClient(create_app(predictor, LIMITS, lifecycle))
    assert client.get("/readyz").status_code == 200
    assert "connection" not in client.get("/healthz").headers
    lifecycle.begin_draining()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "not_ready"
    assert "shutting down" in r.json()["error"]["message"]
    assert r.headers["connection"] == "close"
    ok = client.post("/v1/moderate", json={"items": [{"id": "1", "text": "你好"}]})
    assert ok.status_code == 200 and ok.headers["connection"] == "close"  # still serving, one answer per connection
