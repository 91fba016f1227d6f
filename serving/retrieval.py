"""Query embedding (cached, batched, through the chain of providers, every attempt counted in
the usage ledger) and hybrid search for one site, with timings.

When no provider of the index's embedding space can embed the question (all failed or their
breakers are open; resources/gateway/embedding_failover.py), the search degrades to its
full-text half (`keyword_search`) instead of failing: `Retrieval.degraded` is then
`keyword_only` and `embedding_provider` None.

Embedding a query is CPU-bound and searching is a blocking database call: both run in
worker threads (FastAPI runs sync endpoints there), never on the event loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from pressrag.resources.embedders import Embedder, EmbeddingUnavailable
from pressrag.resources.gateway.embedding_failover import Attempt, ChainUnavailable, EmbedderChain
from pressrag.resources.models import SearchHit
from pressrag.resources.store import Store
from pressrag.resources.store.search import SearchFilters, hybrid_search, keyword_search
from pressrag.resources.store.spaces import EmbeddingSpace, active_space
from pressrag.resources.usage import ModelCall, NoUsageRecorder, UsageRecorder
from pressrag.serving.errors import ApiError
from pressrag.serving.metrics import Metrics

log = logging.getLogger("serving.retrieval")

SPACE_TTL_SECONDS = 5.0
KEYWORD_ONLY = "keyword_only"


def as_chain(embedder: Embedder | EmbedderChain) -> EmbedderChain:
    return embedder if isinstance(embedder, EmbedderChain) else EmbedderChain.single(embedder)


@dataclass(frozen=True)
class QueryVector:
    vector: np.ndarray
    provider: str  # who embedded it (a cached vector: who embedded it first)


@dataclass(frozen=True)
class _Request:
    text: str
    site_id: str
    future: Future[QueryVector] = field(default_factory=Future)


class EmbeddingBatcher:
    """One thread embeds queries for all requests, in batches of whatever is waiting.

    A transformer embeds 16 short queries in little more time than one, so under concurrent
    load batching multiplies throughput; at low load a batch is a single query and adds no
    wait (nothing is held back for a batch to fill). Each attempt of the chain is one model
    call per distinct question of each site in the ledger (a failed primary and the secondary
    that answered: two rows), recorded after the vectors are handed out.
    """

    def __init__(
        self,
        embedder: Embedder | EmbedderChain,
        *,
        max_batch: int = 32,
        metrics: Metrics | None = None,
        recorder: UsageRecorder | None = None,
    ) -> None:
        self.chain = as_chain(embedder)
        self.max_batch = max_batch
        self.metrics = metrics
        self.recorder = recorder or NoUsageRecorder()
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="query-embedder", daemon=True)
        self._thread.start()

    def embed(self, text: str, site_id: str = "", timeout: float = 60.0) -> QueryVector:
        """The text's vector and who made it; `EmbeddingUnavailable` when no provider could,
        `TimeoutError` after `timeout` seconds."""
        request = _Request(text, site_id)
        self._queue.put(request)
        return request.future.result(timeout=timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            texts = list(dict.fromkeys(r.text for r in batch))
            if self.metrics is not None:
                self.metrics.query_embedding_batch.observe(len(texts))
            try:
                embedded = self.chain.embed_with_failover(texts)
            except Exception as exc:
                for request in batch:
                    request.future.set_exception(exc)
                self._record(batch, getattr(exc, "attempts", ()))
                continue
            vectors = dict(zip(texts, embedded.vectors, strict=True))
            for request in batch:
                request.future.set_result(QueryVector(vectors[request.text], embedded.provider))
            self._record(batch, embedded.attempts)

    def _record(self, batch: list[_Request], attempts: Sequence[Attempt]) -> None:
        """Per attempt, one ledger call per distinct (site, question) of the batch; never
        raises."""
        try:
            questions = list(dict.fromkeys((r.site_id, r.text) for r in batch if r.site_id))
            for attempt in attempts:
                for site_id, text in questions:
                    ok = attempt.outcome == "ok"
                    self.recorder.record(
                        ModelCall(
                            site_id=site_id,
                            purpose="question_embedding",
                            provider=attempt.provider,
                            model=attempt.model,
                            input_tokens=self.chain.count_tokens(text) if ok else 0,
                            latency_ms=round(attempt.seconds * 1000, 3),
                            outcome=attempt.outcome,
                        )
                    )
        except Exception:  # counting must never break the search it counts
            log.warning("recording question embeddings failed", exc_info=True)

    def close(self) -> None:
        self._queue.put(None)


class QueryVectorCache:
    """A small LRU of query → vector; repeated questions skip the model entirely (every
    provider of the chain embeds in the same space, so a vector is good whoever made it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, QueryVector] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> QueryVector | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: str, vector: QueryVector) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass(frozen=True)
class Retrieval:
    hits: list[SearchHit]
    query_vector: np.ndarray | None  # None: keyword-only
    embed_ms: float
    search_ms: float
    embedding_provider: str | None = None  # who embedded the question; None: keyword-only
    degraded: str | None = None  # "keyword_only" when no provider could embed the question

    @property
    def keyword_only(self) -> bool:
        return self.degraded == KEYWORD_ONLY


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


class Retriever:
    def __init__(
        self,
        store: Store,
        embedder: Embedder | EmbedderChain,
        metrics: Metrics,
        *,
        cache_size: int,
        recorder: UsageRecorder | None = None,
        embed_wait_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.chain = as_chain(embedder)
        self.metrics = metrics
        self.cache = QueryVectorCache(cache_size)
        self.batcher = EmbeddingBatcher(self.chain, metrics=metrics, recorder=recorder)
        self.embed_wait_seconds = embed_wait_seconds
        self._space: tuple[float, EmbeddingSpace | None] | None = None

    def embed_query(self, text: str, site_id: str = "") -> QueryVector | None:
        """The question's vector, or None when no provider of the index's space could make
        it (the search then runs on keywords alone)."""
        key = " ".join(text.split())
        cached = self.cache.get(key)
        self.metrics.query_embedding_cache.labels("hit" if cached is not None else "miss").inc()
        if cached is not None:
            return cached
        try:
            embedded = self.batcher.embed(key, site_id, timeout=self.embed_wait_seconds)
        except (EmbeddingUnavailable, TimeoutError) as exc:
            attempts = len(exc.attempts) if isinstance(exc, ChainUnavailable) else "?"
            log.warning(
                "question not embedded (%s, %s attempts): searching keywords only",
                type(exc).__name__,
                attempts,
            )
            return None
        self.cache.put(key, embedded)
        return embedded

    def space(self) -> EmbeddingSpace:
        """The active embedding space, checked against the loaded model (invariant 5)."""
        now = time.monotonic()
        if self._space is None or now - self._space[0] > SPACE_TTL_SECONDS:
            with self.store.connection() as conn:
                self._space = (now, active_space(conn))
        space = self._space[1]
        if space is None:
            raise ApiError(503, "no_index", "nothing has been indexed yet")
        if space.model != self.chain.model_id or space.dimension != self.chain.dimension:
            raise ApiError(
                503,
                "model_mismatch",
                "the index was built with another embedding model than the one configured",
            )
        return space

    def retrieve(
        self,
        *,
        site_id: str,
        query: str,
        k: int,
        ts_config: str,
        filters: SearchFilters | None,
        endpoint: str,
    ) -> Retrieval:
        space = self.space()
        t0 = time.perf_counter()
        embedded = self.embed_query(query, site_id)
        t1 = time.perf_counter()
        with self.store.search_connection() as conn:
            if embedded is None:
                hits = keyword_search(
                    conn,
                    site_id=site_id,
                    space=space,
                    query_text=query,
                    k=k,
                    ts_config=ts_config,
                    filters=filters,
                )
            else:
                hits = hybrid_search(
                    conn,
                    site_id=site_id,
                    space=space,
                    query_text=query,
                    query_vector=embedded.vector,
                    k=k,
                    ts_config=ts_config,
                    filters=filters,
                )
        t2 = time.perf_counter()
        self.metrics.retrieval_hits.labels(endpoint).observe(len(hits))
        if not hits:
            self.metrics.retrieval_empty.labels(endpoint).inc()
        if embedded is None:
            self.metrics.retrieval_degraded.labels(endpoint).inc()
            return Retrieval(hits, None, _ms(t1 - t0), _ms(t2 - t1), None, KEYWORD_ONLY)
        return Retrieval(hits, embedded.vector, _ms(t1 - t0), _ms(t2 - t1), embedded.provider)
