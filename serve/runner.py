"""Run the HTTP service under uvicorn, in one process or several.

Two things differ from a plain `uvicorn.run(..., workers=N)`:
- the model is checked in a short-lived forked child before any worker starts, so a broken
  model reference fails fast with a clear message while the supervisor itself never holds
  a model copy (about 400 MB) it does not serve from;
- the shared listening socket is created with `IPPROTO_TCP`. uvicorn's own pre-bound socket
  leaves the protocol at 0, so asyncio never sets TCP_NODELAY on accepted connections and
  every keep-alive reply waits about 40 ms for the client's delayed ACK (uvicorn#3149)."""

from __future__ import annotations

import multiprocessing
import os
import socket
import tempfile

from qinglang.models.registry import ModelLoadError
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


def run_workers(model: str, settings: HttpSettings, host: str, port: int, workers: int, access_log: bool) -> None:
    """Serve with `workers` processes; each builds its app from the environment set here."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ.update(
        QINGLANG_MODEL=model,
        QINGLANG_MAX_ITEMS=str(settings.max_items),
        QINGLANG_MAX_TEXT_CHARS=str(settings.max_text_chars),
        QINGLANG_MAX_BODY_BYTES=str(settings.max_body_bytes),
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
    )
    Multiprocess(config, sockets=[tcp_listener(host, port)]).run()
