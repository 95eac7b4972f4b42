"""The trending group: POST /v1/trending/rerank re-orders a trending list under the server's policy."""

from fastapi import APIRouter
from fastapi.responses import Response

from qinglang.serve.http.context import AppContext
from qinglang.serve.http.errors import error_response
from qinglang.serve.schemas import RerankResponse
from qinglang.trending.rerank import ACTIONS, DuplicateIdsError, Entry, decision_records


def build_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["trending"], dependencies=ctx.require_key)
    request_model = ctx.rerank_request

    @router.post(
        "/v1/trending/rerank", response_model=RerankResponse, responses=ctx.guarded_responses(400, 413, 415, 422, 409)
    )
    def rerank(body: request_model) -> Response | dict:
        """Re-order a trending list under the server's policy: an action per entry (keep,
        demote, review, remove) and its reasons. The same list gives the same order."""
        entries = [Entry(e.id, e.title, e.rank, e.heat) for e in body.entries]
        try:
            decisions = ctx.reranker.rerank(entries)
        except DuplicateIdsError as exc:  # the schema cannot say that ids are unique
            return error_response(409, "duplicate_ids", str(exc))
        ctx.metrics.items.inc(len(entries))
        records = decision_records(decisions)
        actions = {a: 0 for a in ACTIONS}
        for rec in records:
            actions[rec["action"]] += 1
        return {
            "model": ctx.model_ref,
            "policy": {"name": ctx.reranker.policy.name, "sha256": ctx.reranker.digest},
            "entries": records,
            "actions": actions,
        }

    return router
