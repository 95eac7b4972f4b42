"""Prometheus metrics of the HTTP service.

Each app gets its own registry (tests build many apps in one process). With several
uvicorn workers, `qinglang serve` sets PROMETHEUS_MULTIPROC_DIR and every worker writes
its samples there, so `/metrics` on any worker reports the whole server."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    def __init__(self, model_name: str, model_version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "qinglang_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qinglang_http_request_duration_seconds",
            "Time from request to response, by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.items = Counter("qinglang_items_scored", "Texts scored.", registry=self.registry)
        self.flags = Counter(
            "qinglang_items_flagged", "Flags raised, by category.", ["category"], registry=self.registry
        )
        info = Gauge(
            "qinglang_model_info",
            "The served model (value 1).",
            ["name", "version"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        info.labels(model_name, model_version).set(1)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
