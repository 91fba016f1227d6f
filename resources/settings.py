"""One settings object, read from the environment (prefix ``PRESSRAG_``) and `.env`.

Every process — the CLI, Dagster's code server and run workers, the serving app — builds
the same `Settings`, so a value set once in the environment means the same thing everywhere.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PRESSRAG_", env_file=".env", extra="ignore", populate_by_name=True
    )

    home: Path = Field(default=Path(".pressrag"), description="Local state: embedded DB, secrets.")
    # `DATABASE_URL` (no prefix) is the conventional name; PRESSRAG_DATABASE_URL also works.
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "PRESSRAG_DATABASE_URL"),
        description="Postgres with pgvector.",
    )
    # Whether a process with no database URL may start the embedded PostgreSQL. Unset: only the
    # `pressrag` command line may (the one-machine mode: `make run`, `pressrag up`); Dagster's
    # and serving's own processes never do. False: nothing may (set it where a forgotten URL
    # must not index into an empty local database). True: any process may.
    embedded_database: bool | None = None
    embedded_shared_buffers: str = "512MB"
    embedded_maintenance_work_mem: str = "512MB"

    dagster_database_url: SecretStr | None = Field(
        default=None, description="Dagster's own storage; defaults to the same server."
    )

    embedder: Literal["local", "openai"] = "local"
    embed_batch_size: int = 16
    # Serving embeds one short query per request, many requests at once: one thread each.
    torch_threads: int = 1
    # Indexing embeds thousands of chunks in one step, and the `embeddings` pool runs one such
    # step at a time, so it takes every core (0 = all): measured 19 vs 12 texts/s on 2 cores.
    index_torch_threads: int = 0
    # How indexing runs the local model. The exact ONNX export gives PyTorch's vectors (to 1e-5)
    # at the same speed on long chunks, and a run's first batch comes ~7 s sooner without
    # torch's imports (1.1 vs 8.7 s here): most runs are a webhook's handful of chunks.
    index_embed_backend: Literal["onnx", "torch"] = "onnx"
    # Where the ONNX export of the local model is cached (default ~/.cache/pressrag/models).
    model_cache_dir: Path | None = None
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_embed_model: str = "text-embedding-3-small"
    openai_embed_dimensions: int | None = None
    openai_chat_model: str = "gpt-4o-mini"
    openai_timeout: float = 30.0
    openai_max_retries: int = 4
    # Embedding requests indexing keeps in flight at once: a remote endpoint serves several
    # at a time, and one at a time leaves it idle while each response is decoded and the
    # next request written. The local model ignores it (it already uses every core).
    openai_embed_concurrency: int = Field(default=4, ge=1)

    answerer: Literal["extractive", "openai"] = "extractive"

    chunk_target_tokens: int = 200
    chunk_overlap_tokens: int = 32
    media_max_bytes: int = 25 * 1024 * 1024

    # Media files are extracted in a child process within these bounds (docs/architecture.md,
    # "Failures"); a file that exceeds one is a recorded failure of that document only.
    extract_timeout_seconds: float = Field(default=120.0, gt=0)
    # Address-space limit of the child (RLIMIT_AS), 0 = none. The child alone, with every
    # parser loaded, maps ~0.1 GiB.
    extract_memory_mb: int = Field(default=2048, ge=0)
    # ZIP-based files (DOCX, PPTX, XLSX): refused before reading when their members declare
    # more than this in total, or a member of over 1 MiB inflates more than the ratio.
    extract_zip_max_mb: int = Field(default=200, ge=1)
    extract_zip_max_ratio: float = Field(default=100.0, gt=1)
    # The child is replaced after this many files, so slow leaks in parsers stay bounded.
    extract_files_per_worker: int = Field(default=200, ge=1)
    # After this many failures of the same content a document is quarantined: no run tries
    # it again until its content changes or `pressrag retry` releases it.
    quarantine_after_failures: int = Field(default=3, ge=1)

    # A stage's changed documents are cut into shards of at most this many, each its own
    # Dagster step (assets/indexing/shards.py): on the Celery executor they run on different
    # workers. A site with fewer changes is one shard, so a webhook's run has no extra steps.
    # Unset: 2,000 in process, where shards run one after another, 500 on executors that run
    # steps at once (`shard_documents`).
    index_shard_documents: int | None = Field(default=None, ge=1)
    # Worker processes for a shard's pure-Python work (post HTML → text, chunking) when it has
    # many documents (resources/cpu_pool.py); 0: one per core, 1: none. On Celery, where
    # each worker already takes a core, 1 keeps a shard to its worker's core.
    index_processes: int = Field(default=0, ge=0)
    # A run publishing at least this many chunks into a space that holds fewer builds the
    # space's HNSW index once after its inserts instead of inserting into it (a first index,
    # a new model's space, a large backfill: ~7× cheaper); docs/performance.md.
    bulk_index_min_chunks: int = Field(default=500, ge=1)

    # The gateway (docs/operations.md, "Keys, usage, budgets"). USD per million tokens, per
    # model: {"gpt-4o-mini": {"input": 0.15, "output": 0.6}}; a key is a model name, or
    # "provider:model" to price one endpoint apart. Extends and overrides the defaults in
    # resources/gateway/prices.py (PRESSRAG_PRICES, as JSON).
    prices: dict[str, dict[str, float]] = Field(default_factory=dict)
    # The ledger's writer: records wait in memory at most this long before a batch is written;
    # past `usage_queue_size` waiting records new ones are dropped (and counted), never waited
    # for. Raw events older than `usage_retention_days` are pruned by `usage_daily`.
    usage_ledger: bool = True  # false: nothing is recorded (for measuring its overhead)
    usage_flush_seconds: float = Field(default=1.0, gt=0)
    usage_queue_size: int = Field(default=10_000, ge=100)
    usage_retention_days: int = Field(default=90, ge=1)
    # The answerer's chain (resources/gateway/failover.py): with PRESSRAG_ANSWERER=openai, an
    # optional second OpenAI-compatible endpoint, then the extractive answerer on the local
    # model (unless answer_local_fallback is false). A provider that failed breaker_failures
    # times in a row is skipped for breaker_cooldown_seconds.
    secondary_base_url: str | None = None
    secondary_api_key: SecretStr | None = None
    secondary_chat_model: str | None = None  # default: openai_chat_model
    secondary_timeout: float = Field(default=20.0, gt=0)
    secondary_max_retries: int = Field(default=1, ge=0, le=10)
    answer_local_fallback: bool = True
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    # The question embedder's chain (resources/gateway/embedding_failover.py): the configured
    # embedder, then — only when secondary_embed_model or secondary_embed_base_url is set — a
    # second OpenAI-compatible endpoint serving the SAME model and dimensions (the index's
    # space; anything else is refused at start). It keeps secondary_timeout and
    # secondary_max_retries, and a breaker like the answerer's. With no provider left,
    # searches run on the full-text side alone (`degraded: keyword_only`).
    secondary_embed_base_url: str | None = None  # default: secondary_base_url
    secondary_embed_api_key: SecretStr | None = None  # default: secondary_api_key, openai_api_key
    secondary_embed_model: str | None = None  # default (and must equal): openai_embed_model
    secondary_embed_dimensions: int | None = None  # default: openai_embed_dimensions

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()


@cache
def get_settings() -> Settings:
    return Settings()
