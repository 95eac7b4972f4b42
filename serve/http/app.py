"""The HTTP service: FastAPI app around a loaded Predictor, assembled from one router per
endpoint group (`routers/`), the JSON error contract (`errors.py`, which lists every
status), the API key rule (`auth.py`) and the RequestGuard middleware (`guard.py`)."""

import os
from typing import Literal

from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import Field, create_model

from qinglang.serve.http.auth import key_dependencies
from qinglang.serve.http.context import AppContext
from qinglang.serve.http.errors import add_exception_handlers
from qinglang.serve.http.guard import GuardConfig, RequestGuard
from qinglang.serve.http.routers import moderation, operations, trending
from qinglang.serve.lifecycle import PROCESS, Lifecycle
from qinglang.serve.metrics import ServiceMetrics
from qinglang.serve.predictor import Predictor
from qinglang.serve.schemas import Item, ModerateRequest, RerankRequest, TrendingEntry
from qinglang.serve.settings import HttpSettings
from qinglang.trending.entries import NOT_BLANK
from qinglang.trending.rerank import Reranker

BODY_ROUTES = frozenset({"/v1/moderate", "/v1/trending/rerank"})  # RequestGuard checks their JSON bodies


def create_app(
    predictor: Predictor, settings: HttpSettings | None = None, lifecycle: Lifecycle | None = None
) -> FastAPI:
    """`lifecycle`: where the server marks that it is shutting down (default: this process's)."""
    settings = settings or HttpSettings()
    metrics = ServiceMetrics(predictor.info.name, predictor.info.version)
    moderate_request = _moderate_request_model(settings, predictor.profiles)
    default_profile = predictor.profiles[0]
    reranker = Reranker.from_file(settings.rerank_policy, predictor.bundle)  # a bad policy fails here, before serving
    ctx = AppContext(
        predictor=predictor,
        settings=settings,
        metrics=metrics,
        reranker=reranker,
        moderate_request=moderate_request,
        rerank_request=_rerank_request_model(settings),
        require_key=key_dependencies(settings),
        model_ref={"name": predictor.info.name, "version": predictor.info.version},
        default_profile=default_profile,
        lifecycle=lifecycle or PROCESS,
    )
    app = FastAPI(
        title="qinglang (清朗) moderation API",
        version=predictor.info.version,
        description="Scores Chinese titles and posts for the CAC 清朗 categories. Scores are calibrated probabilities; "
        "a category is flagged at the threshold stored in the model.",
    )
    app.state.predictor = predictor
    app.state.metrics = metrics
    for router in _routers(ctx):
        app.include_router(router)
    add_exception_handlers(app, settings)
    routes = frozenset(route.path for route in iter_route_contexts(app.routes))  # included routers hold theirs
    guard = GuardConfig(settings, metrics, routes, BODY_ROUTES, ctx.lifecycle)
    app.add_middleware(RequestGuard, config=guard)
    return app


def _routers(ctx: AppContext) -> list[APIRouter]:
    """In the order of the paths in the OpenAPI document, as it was before the routers:
    /v1/taxonomy (moderation group) comes after /v1/trending/rerank."""
    return [
        moderation.build_router(ctx),
        trending.build_router(ctx),
        moderation.build_taxonomy_router(ctx),
        operations.build_router(ctx),
    ]


def app_from_env() -> FastAPI:
    """uvicorn factory for multi-worker serving: QINGLANG_MODEL names the model; limits
    and the API key come from HttpSettings.from_env()."""
    model = os.environ.get("QINGLANG_MODEL")
    if not model:
        raise RuntimeError("QINGLANG_MODEL is not set")
    return create_app(Predictor.load(model), HttpSettings.from_env())


def _moderate_request_model(settings: HttpSettings, profiles: list[str]) -> type[ModerateRequest]:
    """ModerateRequest with this app's limits on items and text length, and its model's profiles."""
    limited_item = create_model(
        "Item",
        __base__=Item,
        text=(
            str,
            Field(
                min_length=1,
                max_length=settings.max_text_chars,
                description="Title or post text. Longer than the limit: 422 text_too_long. A text with nothing to "
                "judge (only spaces, invisible characters or punctuation) gets null scores and no flag.",
            ),
        ),
    )
    return create_model(
        "ModerateRequest",
        __base__=ModerateRequest,
        items=(
            list[limited_item],
            Field(
                min_length=1,
                max_length=settings.max_items,
                description="Texts to score. More than the limit: 422 too_many_items.",
            ),
        ),
        profile=(
            Literal[tuple(profiles)] | None,
            Field(None, description="Operating point for the flags; default: the model's."),
        ),
    )


def _rerank_request_model(settings: HttpSettings) -> type[RerankRequest]:
    """RerankRequest with this app's limits on entries and title length."""
    limited_entry = create_model(
        "TrendingEntry",
        __base__=TrendingEntry,
        title=(
            str,
            Field(
                min_length=1,
                max_length=settings.max_text_chars,
                pattern=NOT_BLANK,
                description="The trending title, not blank. Longer than the limit: 422 text_too_long.",
            ),
        ),
    )
    return create_model(
        "RerankRequest",
        __base__=RerankRequest,
        entries=(
            list[limited_entry],
            Field(
                min_length=1,
                max_length=settings.max_items,
                description="The list. More than the limit: 422 too_many_items.",
            ),
        ),
    )
