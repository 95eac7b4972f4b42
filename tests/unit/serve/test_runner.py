"""GracefulServer (serve/runner.py): SIGTERM turns the process not ready at once and stops
the server only after the drain; SIGINT and a second signal stop it at once. The server
is driven through its signal handler and main-loop tick, without binding a port; the real
thing is tests/e2e/test_serving_hardening.py."""

import asyncio
import signal
import time

import uvicorn

from qinglang.serve.lifecycle import Lifecycle
from qinglang.serve.runner import GracefulServer


async def app(scope, receive, send):  # never called
    raise AssertionError


def server(drain_seconds: float) -> tuple[GracefulServer, Lifecycle]:
    lifecycle = Lifecycle()
    return GracefulServer(uvicorn.Config(app), drain_seconds, lifecycle), lifecycle


def tick(s: GracefulServer) -> bool:
    return asyncio.run(s.on_tick(1))


def test_sigterm_drains_before_the_server_stops():
    s, lifecycle = server(0.3)
    assert not tick(s) and not lifecycle.draining
    s.handle_exit(signal.SIGTERM, None)
    assert lifecycle.draining  # /readyz answers 503 from now on
    assert not s.should_exit and not tick(s)  # still accepting and serving
    time.sleep(0.35)
    assert tick(s) and s.should_exit  # then uvicorn's graceful shutdown


def test_a_second_sigterm_stops_at_once():
    s, lifecycle = server(60)
    s.handle_exit(signal.SIGTERM, None)
    assert not s.should_exit
    s.handle_exit(signal.SIGTERM, None)
    assert s.should_exit and lifecycle.draining


def test_sigint_and_a_zero_drain_stop_at_once():
    s, lifecycle = server(60)
    s.handle_exit(signal.SIGINT, None)
    assert s.should_exit and lifecycle.draining
    s, lifecycle = server(0)
    s.handle_exit(signal.SIGTERM, None)
    assert s.should_exit and lifecycle.draining
