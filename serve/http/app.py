"""The HTTP service: FastAPI app around a loaded Predictor.

Every failure is a JSON body `{"error": {"code", "message", "details"}}` with its status:
400 unreadable body (empty, not UTF-8, not JSON), 401 missing or wrong API key, 409
repeated entry ids in a list to re-rank, 413 over a limit (body bytes, items, text
length), 415 not JSON, 422 wrong shape or types, 503 model not ready. Unexpected exceptions become a logged 500; the worker keeps serving.

No `from __future__ import annotations` here: the request model is built per app from
its limits, and FastAPI must see the real class in the endpoint's signature."""

import logging
import math
import os
import secrets
import time
from typing import Literal, Optional

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, create_model
from starlette.exceptions import HTTPException

from qinglang.serve.metrics import ServiceMetrics
from qinglang.serve.predictor import Predictor
from qinglang.serve.schemas import (
    CategoryOut,
    ErrorResponse,
    Health,
    Item,
    ModerateRequest,
    ModerateResponse,
    Ready,
    RerankRequest,
    RerankResponse,
    TaxonomyResponse,
    TrendingEntry,
)
from qinglang.serve.settings import HttpSettings
from qinglang.trending.entries import NOT_BLANK
from qinglang.trending.rerank import ACTIONS, DuplicateIdsError, Entry, Reranker, decision_records

log = logging.getLogger("qinglang.http")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    409: "conflict",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    503: "not_ready",
}


def error_response(
    status: int, code: str, message: str, details: list[dict] | None = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


def create_app(predictor: Predictor, settings: HttpSettings | None = None) -> FastAPI:
    settings = settings or HttpSettings()
    metrics = ServiceMetrics(predictor.info.name, predictor.info.version)
    model_ref = {"name": predictor.info.name, "version": predictor.info.version}
    errors = {status: {"model": ErrorResponse} for status in (400, 401, 413, 415, 422)}

    limited_item = create_model(
        "Item",
        __base__=Item,
        text=(str, Field(min_length=1, max_length=settings.max_text_chars, description="Title or post text.")),
    )
    request_model = create_model(
        "ModerateRequest",
        __base__=ModerateRequest,
        items=(list[limited_item], Field(min_length=1, max_length=settings.max_items, description="Texts to score.")),
        profile=(
            Optional[Literal[tuple(predictor.profiles)]],
            Field(None, description="Operating point for the flags; default: the model's."),
        ),
    )
    default_profile = predictor.profiles[0]
    reranker = Reranker.from_file(settings.rerank_policy, predictor.bundle)  # a bad policy fails here, before serving
    limited_entry = create_model(
        "TrendingEntry",
        __base__=TrendingEntry,
        title=(
            str,
            Field(
                min_length=1,
                max_length=settings.max_text_chars,
                pattern=NOT_BLANK,
                description="The trending title, not blank.",
            ),
        ),
    )
    rerank_model = create_model(
        "RerankRequest",
        __base__=RerankRequest,
        entries=(list[limited_entry], Field(min_length=1, max_length=settings.max_items, description="The list.")),
    )

    app = FastAPI(
        title="qinglang (清朗) moderation API",
        version=predictor.info.version,
        description="Scores Chinese titles and posts for the CAC 清朗 categories. Scores are calibrated probabilities; "
        "a category is flagged at the threshold stored in the model.",
    )
    app.state.predictor = predictor
    app.state.metrics = metrics
    bearer = HTTPBearer(auto_error=False, description="Required when the server has QINGLANG_API_KEY set.")

    def require_key(credentials: HTTPAuthorizationCredentials | None = Security(bearer)) -> None:
        if settings.api_key is None:
            return
        if credentials is None or not secrets.compare_digest(
            credentials.credentials.encode(), settings.api_key.encode()
        ):
            raise HTTPException(
                401, "missing or wrong API key (Authorization: Bearer <key>)", headers={"WWW-Authenticate": "Bearer"}
            )

    @app.post(
        "/v1/moderate",
        response_model=ModerateResponse,
        responses=errors,
        dependencies=[Depends(require_key)],
        tags=["moderation"],
    )
    def moderate(body: request_model) -> dict:
        """Score every item; flags use each category's threshold at the chosen operating point."""
        profile = body.profile or default_profile
        preds = predictor.predict([item.text for item in body.items], profile)
        out = []
        for item, pred in zip(body.items, preds, strict=True):
            out.append(
                {
                    "id": item.id,
                    "scores": pred.scores,
                    "flagged": [
                        {"category": f.category, "name_zh": f.name_zh, "group": f.group, "score": f.score}
                        for f in pred.flagged
                    ],
                    "groups": pred.groups,
                    "model_version": predictor.info.version,
                }
            )
            for f in pred.flagged:
                metrics.flags.labels(f.category).inc()
        metrics.items.inc(len(out))
        return {"model": model_ref, "profile": profile, "items": out}

    @app.post(
        "/v1/trending/rerank",
        response_model=RerankResponse,
        responses={**errors, 409: {"model": ErrorResponse}},
        dependencies=[Depends(require_key)],
        tags=["trending"],
    )
    def rerank(body: rerank_model) -> Response | dict:
        """Re-order a trending list under the server's policy: an action per entry (keep,
        demote, review, remove) and its reasons. The same list gives the same order."""
        entries = [Entry(e.id, e.title, e.rank, e.heat) for e in body.entries]
        try:
            decisions = reranker.rerank(entries)
        except DuplicateIdsError as exc:  # the schema cannot say that ids are unique
            return error_response(409, "duplicate_ids", str(exc))
        metrics.items.inc(len(entries))
        records = decision_records(decisions)
        actions = {a: 0 for a in ACTIONS}
        for rec in records:
            actions[rec["action"]] += 1
        return {
            "model": model_ref,
            "policy": {"name": reranker.policy.name, "sha256": reranker.digest},
            "entries": records,
            "actions": actions,
        }

    @app.get(
        "/v1/taxonomy",
        response_model=TaxonomyResponse,
        responses={401: {"model": ErrorResponse}},
        dependencies=[Depends(require_key)],
        tags=["moderation"],
    )
    def taxonomy() -> dict:
        """The categories this model scores, with their operating points; from the model artifact."""
        bundle = predictor.bundle
        clf = bundle.classifier

        def finite(value: float) -> float | None:
            return float(value) if math.isfinite(value) else None

        return {
            "model": model_ref,
            "taxonomy_version": bundle.taxonomy.version,
            "default_profile": default_profile,
            "profiles": predictor.profiles,
            "groups": dict(bundle.taxonomy.groups),
            "categories": [
                CategoryOut(
                    key=c.key,
                    name_zh=c.name_zh,
                    group=c.group,
                    definition=c.definition,
                    trained=bool(clf.trained_[j]),
                    threshold=finite(clf.thresholds_[j]),
                    operating_points={
                        name: {
                            "threshold": finite(clf.profiles_[name][j]),
                            "reached": bool(clf.profile_reached_[name][j]),
                        }
                        for name in predictor.profiles
                    },
                )
                for j, c in enumerate(bundle.taxonomy.categories)
            ],
        }

    @app.get("/healthz", response_model=Health, tags=["operations"])
    def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=Ready, responses={503: {"model": ErrorResponse}}, tags=["operations"])
    def readyz() -> Response | dict:
        """The model is loaded and scores a probe text."""
        try:
            predictor.scores(["预热"])
        except Exception as exc:  # a broken model must show as not ready, not as a crash
            log.exception("readiness probe failed")
            return error_response(503, "not_ready", f"model cannot score: {type(exc).__name__}")
        return {"status": "ready", "model": model_ref}

    @app.get("/metrics", tags=["operations"], response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    def prometheus_metrics() -> Response:
        """Prometheus exposition: requests by route and status, latency histogram, items scored, flags by category."""
        payload, content_type = metrics.exposition()
        return Response(payload, media_type=content_type)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc, settings)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; the server logged it and keeps serving")

    routes = {route.path for route in app.routes}
    app.add_middleware(
        RequestGuard,
        settings=settings,
        metrics=metrics,
        routes=routes,
        body_routes={"/v1/moderate", "/v1/trending/rerank"},
    )
    return app


def _validation_error(exc: RequestValidationError, settings: HttpSettings) -> JSONResponse:
    problems = exc.errors()
    details = [
        {"loc": ".".join(str(p) for p in e.get("loc", ())), "type": e.get("type", ""), "message": e.get("msg", "")}
        for e in problems[:20]
    ]
    types = {e.get("type") for e in problems}
    if "json_invalid" in types:
        return error_response(400, "invalid_json", "the body is not valid JSON", details)
    if any(e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in problems):
        return error_response(
            400, "empty_body", "the request has no body; send the JSON object this route takes (see /docs)", details
        )
    # over a size limit (the list, or a text / title) is 413; any other over-long field (an id) is a 422
    too_long = [
        e
        for e in problems
        if e.get("type") == "too_long"
        or (e.get("type") == "string_too_long" and tuple(e.get("loc", ()))[-1:] in (("text",), ("title",)))
    ]
    if too_long:
        if any(e.get("type") == "too_long" for e in too_long):
            return error_response(413, "too_many_items", f"at most {settings.max_items} items per request", details)
        return error_response(
            413, "text_too_long", f"a text may have at most {settings.max_text_chars} characters", details
        )
    return error_response(422, "invalid_request", "the body does not match the request schema (see /docs)", details)


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
                await error_response(500, "internal_error", "internal error; the server logged it and keeps serving")(
                    scope, receive, send_tracked
                )
        finally:
            self.metrics.requests.labels(route, scope["method"], str(state["status"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)

    async def _read_body(self, scope, receive) -> tuple[JSONResponse | None, bytes]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        media_type, _, params = headers.get("content-type", "").partition(";")
        if media_type.strip().lower() != "application/json":
            return error_response(415, "unsupported_media_type", "send the body as Content-Type: application/json"), b""
        charset = (
            params.strip().lower().removeprefix("charset=").strip('"') if "charset=" in params.lower() else "utf-8"
        )
        if charset not in ("utf-8", "utf8"):
            return error_response(415, "unsupported_media_type", f"the body must be UTF-8, not {charset}"), b""
        limit = self.settings.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return error_response(413, "body_too_large", f"the body may have at most {limit} bytes"), b""
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
            return error_response(
                400, "empty_body", "the request has no body; send the JSON object this route takes (see /docs)"
            ), b""
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error_response(
                400, "invalid_encoding", f"the body is not UTF-8 (bad byte at offset {exc.start})"
            ), b""
        return None, body


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


def app_from_env() -> FastAPI:
    """uvicorn factory for multi-worker serving: QINGLANG_MODEL names the model; limits
    and the API key come from HttpSettings.from_env()."""
    model = os.environ.get("QINGLANG_MODEL")
    if not model:
        raise RuntimeError("QINGLANG_MODEL is not set")
    return create_app(Predictor.load(model), HttpSettings.from_env())
