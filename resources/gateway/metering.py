"""The indexing side of the ledger: every call of the embedding step to its model is one ledger
row of the site (purpose `index_embedding`), and a step that would pass the site's monthly
token or cost budget is refused before it embeds anything."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import psycopg

from pressrag.resources.embedders import Embedder
from pressrag.resources.gateway.budgets import Budgets, indexing_overrun, read_usage
from pressrag.resources.gateway.ledger import UsageLedger
from pressrag.resources.gateway.prices import LOCAL_PROVIDER, PriceTable
from pressrag.resources.settings import get_settings
from pressrag.resources.usage import ModelCall, UsageRecorder, usage_recorder

PURPOSE = "index_embedding"


def provider_of(model_id: str) -> str:
    """The ledger's provider of an embedding model id (`local:…`, `openai:…`)."""
    return LOCAL_PROVIDER if model_id.startswith("local:") else model_id.split(":", 1)[0]


class MeteredEmbedder:
    """An `Embedder` that reports each `embed` call to the ledger as one call of `site_id`:
    tokens as the model counts them, latency, and `error` when it raised."""

    def __init__(
        self, model: Embedder, site_id: str, recorder: UsageRecorder | None = None
    ) -> None:
        self.model = model
        self.site_id = site_id
        self.recorder = recorder if recorder is not None else usage_recorder()
        self.model_id = model.model_id
        self.dimension = model.dimension
        self.max_tokens = model.max_tokens
        self.concurrent_calls = model.concurrent_calls
        self.provider = provider_of(model.model_id)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        outcome = "error"
        try:
            vectors = self.model.embed(texts)
            outcome = "ok"
            return vectors
        finally:
            tokens = sum(self.model.count_tokens(t) for t in texts) if outcome == "ok" else 0
            self.recorder.record(
                ModelCall(
                    site_id=self.site_id,
                    purpose=PURPOSE,
                    provider=self.provider,
                    model=self.model_id,
                    input_tokens=tokens,
                    latency_ms=round((time.perf_counter() - started) * 1000, 3),
                    outcome=outcome,
                )
            )

    def flush(self, timeout: float = 30.0) -> None:
        """Write the step's records before it ends (a run worker may exit right after)."""
        if isinstance(self.recorder, UsageLedger):
            self.recorder.flush(timeout=timeout)

    def budget_overrun(
        self,
        conn: psycopg.Connection,
        site_settings: dict,
        document_ids: list[int],
        *,
        force: bool,
    ) -> str | None:
        """Why embedding these documents' drafts would pass a monthly budget, or None."""
        budgets = Budgets.of(site_settings)
        if budgets.tokens_per_month is None and budgets.cost_per_month_usd is None:
            return None
        tokens = tokens_to_embed(conn, document_ids, self.model_id, force=force)
        if tokens == 0:
            return None
        cost = PriceTable(get_settings().prices).cost(self.provider, self.model_id, tokens, 0)
        usage = read_usage(conn, self.site_id, datetime.now(UTC))
        return indexing_overrun(budgets, usage, tokens, cost.usd)


def tokens_to_embed(
    conn: psycopg.Connection, document_ids: list[int], model_id: str, *, force: bool
) -> int:
    """Tokens an indexing step would send to the model: its drafts' distinct texts that the
    embedding cache does not hold yet (all of them when `force`)."""
    row = conn.execute(
        """SELECT coalesce(sum(d.token_count), 0)
           FROM (SELECT DISTINCT ON (content_hash) content_hash, token_count
                 FROM chunk_drafts WHERE document_id = ANY(%(ids)s)) d
           WHERE %(force)s OR NOT EXISTS (
               SELECT 1 FROM embedding_cache e
               WHERE e.model = %(model)s AND e.content_hash = d.content_hash)""",
        {"ids": document_ids, "model": model_id, "force": force},
    ).fetchone()
    return int(row[0]) if row else 0
