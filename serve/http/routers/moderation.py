"""The moderation group: POST /v1/moderate scores texts, GET /v1/taxonomy describes the categories."""

import math

from fastapi import APIRouter

from qinglang.data.taxonomy import KINDS, Category
from qinglang.serve.http.context import AppContext
from qinglang.serve.predictor import Prediction
from qinglang.serve.schemas import CategoryOut, ModerateResponse, TaxonomyResponse


def build_router(ctx: AppContext) -> APIRouter:
    """POST /v1/moderate."""
    router = _group_router(ctx)
    request_model = ctx.moderate_request

    @router.post("/v1/moderate", response_model=ModerateResponse, responses=ctx.guarded_responses(400, 413, 415, 422))
    def moderate(body: request_model) -> dict:
        """Score every item; flags use each category's threshold at the chosen operating point."""
        profile = body.profile or ctx.default_profile
        kinds = [item.kind or ctx.predictor.default_kind for item in body.items]
        preds = ctx.predictor.predict([item.text for item in body.items], profile, kinds)
        out = []
        for item, pred, kind in zip(body.items, preds, kinds, strict=True):
            out.append(_item_result(item.id, pred, kind, ctx.predictor.info.version))
            for f in pred.flagged:
                ctx.metrics.flags.labels(f.category).inc()
        ctx.metrics.items.inc(len(out))
        return {"model": ctx.model_ref, "profile": profile, "items": out}

    return router


def build_taxonomy_router(ctx: AppContext) -> APIRouter:
    """GET /v1/taxonomy: a router of its own so that the app can list it after the trending
    route, where the OpenAPI document has always had it."""
    router = _group_router(ctx)

    @router.get("/v1/taxonomy", response_model=TaxonomyResponse, responses=ctx.guarded_responses())
    def taxonomy() -> dict:
        """The categories this model scores, with their operating points; from the model artifact."""
        bundle = ctx.predictor.bundle
        return {
            "model": ctx.model_ref,
            "taxonomy_version": bundle.taxonomy.version,
            "default_profile": ctx.default_profile,
            "profiles": ctx.predictor.profiles,
            "default_kind": ctx.predictor.default_kind,
            "kinds": list(KINDS),
            "groups": dict(bundle.taxonomy.groups),
            "categories": [_category_out(ctx, j, c) for j, c in enumerate(bundle.taxonomy.categories)],
        }

    return router


def _group_router(ctx: AppContext) -> APIRouter:
    """The group's tag, and the API key on every route."""
    return APIRouter(tags=["moderation"], dependencies=ctx.require_key)


def _item_result(item_id: str, pred: Prediction, kind: str, model_version: str) -> dict:
    return {
        "id": item_id,
        "scores": pred.scores,
        "flagged": [
            {"category": f.category, "name_zh": f.name_zh, "group": f.group, "score": f.score} for f in pred.flagged
        ],
        "groups": pred.groups,
        "kind": kind,
        "model_version": model_version,
    }


def _category_out(ctx: AppContext, j: int, category: Category) -> CategoryOut:
    """Category `j` of the taxonomy with its thresholds; a threshold that is not finite is None."""
    clf = ctx.predictor.bundle.classifier
    return CategoryOut(
        key=category.key,
        name_zh=category.name_zh,
        group=category.group,
        definition=category.definition,
        trained=bool(clf.trained_[j]),
        threshold=_finite(clf.thresholds_[j]),
        operating_points={
            name: {"threshold": _finite(clf.profiles_[name][j]), "reached": bool(clf.profile_reached_[name][j])}
            for name in ctx.predictor.profiles
        },
        kinds=list(category.kinds),
        operating_points_by_kind={kind: _kind_points(ctx, j, kind) for kind in KINDS},
    )


def _kind_points(ctx: AppContext, j: int, kind: str) -> dict[str, dict]:
    """Category `j`'s operating points for one kind (all null where it does not apply)."""
    clf = ctx.predictor.bundle.classifier
    applies = not clf.kinds_aware or bool(clf.kind_applies_[KINDS.index(kind), j])
    out = {}
    for name in ctx.predictor.profiles:
        threshold = clf.profile_thresholds(name, kind)[j]
        reached = (
            bool(clf.kind_reached_[name][KINDS.index(kind), j])
            if clf.kinds_aware
            else bool(clf.profile_reached_[name][j])
        )
        out[name] = {"threshold": _finite(threshold) if applies else None, "reached": reached and applies}
    return out


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
