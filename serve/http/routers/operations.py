"""The operations group, without the API key: /healthz (alive), /readyz (the model scores),
/metrics (Prometheus)."""

import logging

from fastapi import APIRouter
from fastapi.responses import Response

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

    @router.get("/readyz", response_model=Ready, responses=error_responses(503))
    def readyz() -> Response | dict:
        """The model is loaded and scores a probe text."""
        try:
            ctx.predictor.scores(["预热"])
        except Exception as exc:  # a broken model must show as not ready, not as a crash
            log.exception("readiness probe failed")
            return error_response(503, "not_ready", f"model cannot score: {type(exc).__name__}")
        return {"status": "ready", "model": ctx.model_ref}

    @router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def prometheus_metrics() -> Response:
        """Prometheus exposition: requests by route and status, latency histogram, items scored, flags by category."""
        payload, content_type = ctx.metrics.exposition()
        return Response(payload, media_type=content_type)

    return router
