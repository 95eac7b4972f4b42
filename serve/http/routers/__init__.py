"""The routes, one module per endpoint group, each with its `build_router(ctx)`:
moderation (/v1/moderate; /v1/taxonomy from `build_taxonomy_router`, which the app
includes after the trending router to keep the OpenAPI path order), trending
(/v1/trending/rerank) and operations (/healthz, /readyz, /metrics).

No `from __future__ import annotations` in these modules: the request models are built
per app from its limits, and FastAPI must see the real class in an endpoint's signature."""
