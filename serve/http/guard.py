"""The ASGI middleware in front of every app: the API key, request metrics, the JSON body
transport checks, and answers that every client can read.

Order of the checks: the API key first (`auth.py`), before anything reads the body; then,
on the routes that take a JSON body, media type, size and UTF-8; then FastAPI parses and
validates.

Every answer waits until the request body has been read to its end (up to DRAIN_LIMIT
bytes, discarded): a client such as Python's urllib sends its whole body before it reads
the answer, and closes on `Connection: close`; a server that answers early and closes with
the body still arriving resets the connection, and the client never sees the 413 or 401.
Past DRAIN_LIMIT, or when the client waits for `100 Continue` (it sends no body after an
early answer), the answer says `Connection: close` instead.

Metric labels take bounded values only: the route is a path the app serves or "other",
the method one of the HTTP methods or "other", the status a code of the error contract or
its class ("2xx" ... "5xx")."""

import logging
import time
from dataclasses import dataclass

from fastapi.responses import JSONResponse

from qinglang.serve.http.auth import CHALLENGE, UNAUTHORIZED, authorized, needs_key
from qinglang.serve.http.errors import EMPTY_BODY, error_response, internal_error
from qinglang.serve.lifecycle import Lifecycle
from qinglang.serve.metrics import ServiceMetrics
from qinglang.serve.settings import HttpSettings

log = logging.getLogger("qinglang.http")

DRAIN_LIMIT = 64 * 1024 * 1024  # bytes of an unread request body read and discarded before answering
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUSES = frozenset({200, 400, 401, 404, 405, 409, 413, 415, 422, 500, 503})


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def status_label(status: int) -> str:
    return str(status) if status in STATUSES else f"{status // 100}xx"


@dataclass(frozen=True)
class GuardConfig:
    """`routes`: the paths the app serves (metric labels); `body_routes`: those whose POST
    body is JSON and checked here."""

    settings: HttpSettings
    metrics: ServiceMetrics
    routes: frozenset[str]
    body_routes: frozenset[str]
    lifecycle: Lifecycle


class RequestBody:
    """The request's body stream: knows whether it has been read to its end, and can read
    and discard the rest."""

    def __init__(self, receive, headers: dict[str, str]) -> None:
        self._receive = receive
        self.declared = int(headers["content-length"]) if headers.get("content-length", "").isdigit() else None
        self.done = self.declared in (None, 0) and "transfer-encoding" not in headers
        self.waits_for_continue = headers.get("expect", "").lower() == "100-continue"
        self.read_bytes = 0

    async def receive(self) -> dict:
        self.waits_for_continue = False  # asking for the body is what sends `100 Continue`
        message = await self._receive()
        self.read_bytes += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message

    async def drain(self, limit: int) -> bool:
        """Read and discard what is left of the body, at most `limit` bytes more; False when
        it is not read to its end (over the limit, or the client waits for `100 Continue`)."""
        if self.done:
            return True
        if self.waits_for_continue or (self.declared is not None and self.declared - self.read_bytes > limit):
            return False
        stop = self.read_bytes + limit
        while not self.done:
            await self.receive()
            if self.read_bytes > stop:
                return False
        return True


class RequestGuard:
    """Pure ASGI middleware (see the module docstring)."""

    def __init__(self, app, config: GuardConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        body = RequestBody(receive, headers)
        state = {"status": 500, "started": False}

        async def send_tracked(message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message = await self._before_answer(body, message)
            await send(message)

        try:
            await self._handle(scope, headers, body, send_tracked)
        except Exception:
            log.exception("request failed")
            if not state["started"]:
                await internal_error()(scope, body.receive, send_tracked)
        finally:
            route = scope["path"] if scope["path"] in self.config.routes else "other"
            self.config.metrics.requests.labels(
                route, method_label(scope["method"]), status_label(state["status"])
            ).inc()
            self.config.metrics.latency.labels(route).observe(time.perf_counter() - started)

    async def _handle(self, scope, headers: dict[str, str], body: RequestBody, send) -> None:
        settings = self.config.settings
        if needs_key(settings, scope["path"]) and not authorized(headers.get("authorization"), settings.api_key):
            refusal = error_response(401, "unauthorized", UNAUTHORIZED, headers=CHALLENGE)
            await refusal(scope, body.receive, send)
            return
        receive = body.receive
        if scope["method"] == "POST" and scope["path"] in self.config.body_routes:
            refusal, content = await self._read_body(headers, body)
            if refusal is not None:
                await refusal(scope, body.receive, send)
                return
            receive = _replay(content, body.receive)
        await self.app(scope, receive, send)

    async def _before_answer(self, body: RequestBody, start: dict) -> dict:
        """Drain the unread body first; close the connection after this answer when that
        was not possible, or when the server is shutting down."""
        complete = await body.drain(DRAIN_LIMIT)
        if complete and not self.config.lifecycle.draining:
            return start
        kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"connection"]
        return {**start, "headers": [*kept, (b"connection", b"close")]}

    async def _read_body(self, headers: dict[str, str], body: RequestBody) -> tuple[JSONResponse | None, bytes]:
        problem = self._header_problem(headers)
        if problem is not None:
            return problem, b""
        limit = self.config.settings.max_body_bytes
        chunks, size = [], 0
        while not body.done:
            message = await body.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return error_response(413, "body_too_large", f"the body may have at most {limit} bytes"), b""
            chunks.append(chunk)
        content = b"".join(chunks)
        if not content.strip():
            return error_response(400, "empty_body", EMPTY_BODY), b""
        try:
            content.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error_response(
                400, "invalid_encoding", f"the body is not UTF-8 (bad byte at offset {exc.start})"
            ), b""
        return None, content

    def _header_problem(self, headers: dict[str, str]) -> JSONResponse | None:
        """415 unless the body is declared as UTF-8 JSON; 413 if its declared length is over the limit."""
        media_type, _, params = headers.get("content-type", "").partition(";")
        if media_type.strip().lower() != "application/json":
            return error_response(415, "unsupported_media_type", "send the body as Content-Type: application/json")
        charset = (
            params.strip().lower().removeprefix("charset=").strip('"') if "charset=" in params.lower() else "utf-8"
        )
        if charset not in ("utf-8", "utf8"):
            return error_response(415, "unsupported_media_type", f"the body must be UTF-8, not {charset}")
        limit = self.config.settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return error_response(413, "body_too_large", f"the body may have at most {limit} bytes")
        return None


def _replay(body: bytes, receive):
    """A receive callable that hands over the body already read, then the client's own events."""
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
