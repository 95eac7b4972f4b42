"""Whether this process is shutting down. `serve/runner.py` marks it on SIGTERM and keeps
serving for a while; meanwhile the app answers /readyz with 503 (load balancers stop
sending) and closes each connection after its response (no client reuses a keep-alive
connection that shutdown would cut). Importable without the model stack or FastAPI."""

from __future__ import annotations

import threading


class Lifecycle:
    def __init__(self) -> None:
        self._draining = threading.Event()

    @property
    def draining(self) -> bool:
        return self._draining.is_set()

    def begin_draining(self) -> None:
        self._draining.set()


PROCESS = Lifecycle()  # the serving process's own; create_app uses it unless given another (tests)
