"""The operations group: /healthz (alive), /readyz (the model scores, and the server is not
shutting down), /metrics (Prometheus). With an API key, /healthz and /readyz stay open (the
model's name and version only to a request with the key) and /metrics needs it; the rule
is in `serve/http/auth.py`."""

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qinglang.serve.http.auth import authorized, optional_key_openapi
from qinglang.serve.http.context import AppContext
from qinglang.serve.http.errors import error_response, error_responses
from qinglang.serve.schemas import Health, Ready

log = logging.getLogger("qinglang.http")


def build_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", response_model=Health)
    def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        response_model=Ready,
        response_model_exclude_none=True,
        responses=error_responses(503),
        openapi_extra=optional_key_openapi(ctx.settings),
    )
    def readyz(request: Request) -> Response | dict:
        """The model is loaded and scores a probe text, and the server is not shutting down
        (503 from the moment it receives SIGTERM)."""
        if ctx.lifecycle.draining:
            return error_response(503, "not_ready", "the server is shutting down")
        try:
            ctx.predictor.scores(["预热"])
        except Exception as exc:  # a broken model must show as not ready, not as a crash
            log.exception("readiness probe failed")
            return error_response(503, "not_ready", f"model cannot score: {type(exc).__name__}")
        if authorized(request.headers.get("authorization"), ctx.settings.api_key):
            return {"status": "ready", "model": ctx.model_ref}
        return {"status": "ready"}

    @router.get(
        "/metrics",
        response_class=Response,
        dependencies=ctx.require_key,
        responses={200: {"content": {"text/plain": {}}}, **ctx.guarded_responses()},
    )
    def prometheus_metrics() -> Response:
        """Prometheus exposition: requests by route, method and status, latency histogram,
        items scored, flags by category."""
        payload, content_type = ctx.metrics.exposition()
        return Response(payload, media_type=content_type)

    return router
