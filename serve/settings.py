"""HTTP service limits and API key; importable without the model stack, so the
multi-worker supervisor stays small."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class HttpSettings:
    max_items: int = 1000
    max_text_chars: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024
    api_key: str | None = None
    rerank_policy: str | None = None  # policy YAML for /v1/trending/rerank; None: the shipped default

    @classmethod
    def from_env(cls) -> HttpSettings:
        """QINGLANG_MAX_ITEMS, QINGLANG_MAX_TEXT_CHARS, QINGLANG_MAX_BODY_BYTES, QINGLANG_API_KEY,
        QINGLANG_RERANK_POLICY."""
        env = os.environ
        return cls(
            max_items=int(env.get("QINGLANG_MAX_ITEMS", cls.max_items)),
            max_text_chars=int(env.get("QINGLANG_MAX_TEXT_CHARS", cls.max_text_chars)),
            max_body_bytes=int(env.get("QINGLANG_MAX_BODY_BYTES", cls.max_body_bytes)),
            api_key=env.get("QINGLANG_API_KEY") or None,
            rerank_policy=env.get("QINGLANG_RERANK_POLICY") or None,
        )
