"""HTTP service limits, API key and shutdown timing; importable without the model stack,
so the multi-worker supervisor stays small."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class HttpSettings:
    """`drain_seconds`: after SIGTERM, how long the server keeps accepting and serving while
    /readyz answers 503; `graceful_timeout`: then how long requests in flight may take to
    finish before they are cancelled."""

    max_items: int = 1000
    max_text_chars: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    api_key: str | None = None
    rerank_policy: str | None = None  # policy YAML for /v1/trending/rerank; None: the shipped default
    drain_seconds: float = 2.0
    graceful_timeout: float = 20.0

    @classmethod
    def from_env(cls) -> HttpSettings:
        """QINGLANG_MAX_ITEMS, QINGLANG_MAX_TEXT_CHARS, QINGLANG_MAX_BODY_BYTES, QINGLANG_API_KEY,
        QINGLANG_RERANK_POLICY, QINGLANG_DRAIN_SECONDS, QINGLANG_GRACEFUL_TIMEOUT."""
        env = os.environ
        return cls(
            max_items=int(env.get("QINGLANG_MAX_ITEMS", cls.max_items)),
            max_text_chars=int(env.get("QINGLANG_MAX_TEXT_CHARS", cls.max_text_chars)),
            max_body_bytes=int(env.get("QINGLANG_MAX_BODY_BYTES", cls.max_body_bytes)),
            api_key=env.get("QINGLANG_API_KEY") or None,
            rerank_policy=env.get("QINGLANG_RERANK_POLICY") or None,
            drain_seconds=float(env.get("QINGLANG_DRAIN_SECONDS", cls.drain_seconds)),
            graceful_timeout=float(env.get("QINGLANG_GRACEFUL_TIMEOUT", cls.graceful_timeout)),
        )
