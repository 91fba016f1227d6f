"""Serving-only settings, on top of the project's one `Settings` (same `PRESSRAG_` prefix).

Rate limits are counted in PostgreSQL and shared by every replica (serving/ratelimit.py);
while the database is unreachable each process falls back to enforcing them on its own.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field, SecretStr

from pressrag.resources.settings import Settings

# Hard ceilings written into the OpenAPI schema; the settings below may only lower them.
MAX_K = 50
MAX_TEXT_CHARS = 2000


class ServingSettings(Settings):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    admin_api_key: SecretStr | None = Field(
        default=None, description="Bearer key for server-to-server calls and the status API."
    )

    rate_limit_site_per_minute: float = Field(default=600, gt=0)
    rate_limit_site_burst: int = Field(default=60, ge=1)
    rate_limit_client_per_minute: float = Field(default=30, gt=0)
    rate_limit_client_burst: int = Field(default=10, ge=1)
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For names the visitor (uvicorn's forwarded-allow-ips); empty: the header "
        "is ignored and the peer address is the client.",
    )
    rate_limit_admin: bool = Field(
        default=False, description="Rate-limit admin-key calls too (off: trusted callers)."
    )

    max_body_bytes: int = Field(default=16 * 1024, ge=256)
    max_question_chars: int = Field(default=1000, ge=1, le=MAX_TEXT_CHARS)
    max_k: int = Field(default=20, ge=1, le=MAX_K)

    answer_max_tokens: int = Field(default=400, ge=16)
    # Cosine distance of the best vector hit above which the site "does not know"; calibrated
    # on the sample site's known-item queries against unrelated questions (docs/serving.md).
    not_found_distance: float = Field(default=0.65, gt=0, le=2)

    # Questions are short: ONNX Runtime embeds them ~3× faster than PyTorch, same vectors.
    embed_backend: Literal["onnx", "onnx-int8", "torch"] = "onnx-int8"
    query_cache_size: int = Field(default=2048, ge=0)
    db_pool_size: int = Field(default=10, ge=1)
    db_wait_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How long a request waits for a database connection before a 503 (while "
        "PostgreSQL is down the pool has none to give: psycopg_pool's default made it 30 s).",
    )
    site_cache_seconds: float = Field(default=10.0, ge=0)
    # How long a site's budget state is reused before the ledger's totals are read again.
    budget_cache_seconds: float = Field(default=2.0, ge=0)
    # Answers of /v1/ask, shared by replicas in PostgreSQL, served while the chunks they cite
    # are unchanged; at most `answer_cache_max_entries` (least recently used go first).
    answer_cache: bool = True
    answer_cache_max_entries: int = Field(default=10_000, ge=1)
    answer_cache_ttl_seconds: float = Field(default=7 * 86400, gt=0)
    housekeeping_seconds: float = Field(default=60.0, gt=0)
    ready_wait_seconds: float = Field(
        default=20.0, ge=0, description="How long a request waits for start-up before a 503."
    )


@cache
def get_serving_settings() -> ServingSettings:
    return ServingSettings()
