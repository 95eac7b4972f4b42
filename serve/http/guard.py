"""The ASGI middleware in front of every app: request metrics and the JSON body transport checks."""

import logging
import time

from fastapi.responses import JSONResponse

from qinglang.serve.http.errors import EMPTY_BODY, error_response, internal_error
from qinglang.serve.metrics import ServiceMetrics
from qinglang.serve.settings import HttpSettings

log = logging.getLogger("qinglang.http")


class RequestGuard:
    """Pure ASGI middleware: counts and times every request, and checks the transport of
    JSON bodies (media type, size, UTF-8) before FastAPI parses them."""

    def __init__(
        self, app, settings: HttpSettings, metrics: ServiceMetrics, routes: set[str], body_routes: set[str]
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.routes = routes
        self.body_routes = body_routes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route = scope["path"] if scope["path"] in self.routes else "other"
        state = {"status": 500, "started": False}

        async def send_tracked(message) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
            await send(message)

        try:
            if scope["method"] == "POST" and scope["path"] in self.body_routes:
                problem, body = await self._read_body(scope, receive)
                if problem is not None:
                    await problem(scope, receive, send_tracked)
                    return
                receive = _replay(body, receive)
            await self.app(scope, receive, send_tracked)
        except Exception:
            log.exception("request failed")
            if not state["started"]:
                await internal_error()(scope, receive, send_tracked)
        finally:
            self.metrics.requests.labels(route, scope["method"], str(state["status"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)

    async def _read_body(self, scope, receive) -> tuple[JSONResponse | None, bytes]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        problem = self._header_problem(headers)
        if problem is not None:
            return problem, b""
        limit = self.settings.max_body_bytes
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return error_response(413, "body_too_large", f"the body may have at most {limit} bytes"), b""
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if not body.strip():
            return error_response(400, "empty_body", EMPTY_BODY), b""
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error_response(
                400, "invalid_encoding", f"the body is not UTF-8 (bad byte at offset {exc.start})"
            ), b""
        return None, body

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
        limit = self.settings.max_body_bytes
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
