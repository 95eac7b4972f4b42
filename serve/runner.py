"""Run the HTTP service under uvicorn, in one process or several.

Three things differ from a plain `uvicorn.run(..., workers=N)`:
- the model is checked in a short-lived forked child before any worker starts, so a broken
  model reference fails fast with a clear message while the supervisor itself never holds
  a model copy (about 400 MB) it does not serve from;
- the shared listening socket is created with `IPPROTO_TCP`. uvicorn's own pre-bound socket
  leaves the protocol at 0, so asyncio never sets TCP_NODELAY on accepted connections and
  every keep-alive reply waits about 40 ms for the client's delayed ACK (uvicorn#3149);
- shutdown drains (`GracefulServer`): on SIGTERM the server turns not ready (/readyz 503,
  `Connection: close` on every answer) but keeps accepting and serving for
  `drain_seconds`, so that requests already sent, even those still in the listen queue,
  and those a load balancer sends before it sees the 503, are answered; then it stops
  listening and gives requests in flight `graceful_timeout` seconds to finish. SIGINT
  (Ctrl-C) skips the drain; a second signal stops draining at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import tempfile
import time
from contextlib import contextmanager
from types import FrameType

import uvicorn
from uvicorn.supervisors import multiprocess

from qinglang.models.registry import ModelLoadError
from qinglang.serve.lifecycle import PROCESS, Lifecycle
from qinglang.serve.settings import HttpSettings


def check_model_in_child(model: str, policy: str | None = None) -> str:
    """Load `model` (and check the re-rank `policy` against it) in a forked child; return
    its "name version", raise ModelLoadError."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def load() -> None:
        from qinglang.serve.predictor import Predictor
        from qinglang.trending.rerank import PolicyError, Reranker

        try:
            predictor = Predictor.load(model)
            Reranker.from_file(policy, predictor.bundle)
            send.send(("ok", f"{predictor.info.name} version {predictor.info.version}"))
        except (ModelLoadError, PolicyError) as exc:
            send.send(("error", str(exc)))

    child = context.Process(target=load, daemon=True)
    child.start()
    child.join()
    if not receive.poll():
        raise ModelLoadError(f"cannot load model {model!r}: the loading process died with exit code {child.exitcode}")
    status, message = receive.recv()
    if status != "ok":
        raise ModelLoadError(message)
    return message


def tcp_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


class GracefulServer(uvicorn.Server):
    """uvicorn's server, with the drain on SIGTERM described in the module docstring."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float, lifecycle: Lifecycle = PROCESS) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.lifecycle = lifecycle
        self.stop_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.lifecycle.begin_draining()
        if sig == signal.SIGTERM and self.stop_at is None and self.drain_seconds > 0 and not self.should_exit:
            self.stop_at = time.monotonic() + self.drain_seconds  # on_tick stops the server then
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.stop_at is not None and not self.should_exit and time.monotonic() >= self.stop_at:
            super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)


def serve_in_process(application, settings: HttpSettings, host: str, port: int, access_log: bool) -> None:
    """Serve `application` in this process until SIGTERM or SIGINT."""
    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=settings.graceful_timeout,
    )
    GracefulServer(config, settings.drain_seconds).run()


class _GracefulWorker(multiprocess.Process):
    """A worker process that serves with GracefulServer (its settings from the environment)."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GracefulServer(self.config, HttpSettings.from_env().drain_seconds)
        return self._server


class _Supervisor(multiprocess.Multiprocess):
    def terminate_all(self) -> None:
        """Close the supervisor's copy of the listening socket first: the workers' copies keep
        it open while they drain, and once the last one closes, new connections are refused
        instead of waiting in a queue that nobody accepts from."""
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


@contextmanager
def _graceful_workers():
    """uvicorn's supervisor starts (and restarts) workers as `multiprocess.Process`; ours for
    the time it runs. Only the `qinglang serve --workers N` supervisor process runs this."""
    original = multiprocess.Process
    multiprocess.Process = _GracefulWorker
    try:
        yield
    finally:
        multiprocess.Process = original


def run_workers(model: str, settings: HttpSettings, host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve with `workers` processes; each builds its app from the environment set here."""
    os.environ.update(
        QINGLANG_MODEL=model,
        QINGLANG_MAX_ITEMS=str(settings.max_items),
        QINGLANG_MAX_TEXT_CHARS=str(settings.max_text_chars),
        QINGLANG_MAX_BODY_BYTES=str(settings.max_body_bytes),
        QINGLANG_DRAIN_SECONDS=str(settings.drain_seconds),
        QINGLANG_GRACEFUL_TIMEOUT=str(settings.graceful_timeout),
    )
    if settings.rerank_policy:
        os.environ["QINGLANG_RERANK_POLICY"] = settings.rerank_policy
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="qinglang-metrics-"))
    config = uvicorn.Config(
        "qinglang.serve.http:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level="info",
        timeout_graceful_shutdown=settings.graceful_timeout,
    )
    with _graceful_workers():
        _Supervisor(config, sockets=[tcp_listener(host, port)]).run()
