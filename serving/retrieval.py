"""Query embedding (cached, batched, counted in the usage ledger) and hybrid search for one
site, with timings.

Embedding a query is CPU-bound and searching is a blocking database call: both run in
worker threads (FastAPI runs sync endpoints there), never on the event loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from pressrag.resources.embedders import Embedder
from pressrag.resources.models import SearchHit
from pressrag.resources.store import Store
from pressrag.resources.store.search import SearchFilters, hybrid_search
from pressrag.resources.store.spaces import EmbeddingSpace, active_space
from pressrag.resources.usage import ModelCall, NoUsageRecorder, UsageRecorder
from pressrag.serving.errors import ApiError
from pressrag.serving.metrics import Metrics

log = logging.getLogger("serving.retrieval")

SPACE_TTL_SECONDS = 5.0


def provider_of(model_id: str) -> str:
    """The ledger's provider of an embedding model id (`local:…`, `openai:…`)."""
    return "local" if model_id.startswith("local:") else model_id.split(":", 1)[0]


@dataclass(frozen=True)
class _Request:
    text: str
    site_id: str
    future: Future[np.ndarray] = field(default_factory=Future)


class EmbeddingBatcher:
    """One thread embeds queries for all requests, in batches of whatever is waiting.

    A transformer embeds 16 short queries in little more time than one, so under concurrent
    load batching multiplies throughput; at low load a batch is a single query and adds no
    wait (nothing is held back for a batch to fill). Each question embedded is one model call
    of its site in the ledger, recorded after the vectors are handed out.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_batch: int = 32,
        metrics: Metrics | None = None,
        recorder: UsageRecorder | None = None,
    ) -> None:
        self.embedder = embedder
        self.max_batch = max_batch
        self.metrics = metrics
        self.recorder = recorder or NoUsageRecorder()
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="query-embedder", daemon=True)
        self._thread.start()

    def embed(self, text: str, site_id: str = "", timeout: float = 60.0) -> np.ndarray:
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
            t0 = time.perf_counter()
            try:
                vectors = dict(zip(texts, self.embedder.embed(texts), strict=True))
            except Exception as exc:
                for request in batch:
                    request.future.set_exception(exc)
                self._record(batch, time.perf_counter() - t0, "error")
                continue
            for request in batch:
                request.future.set_result(vectors[request.text])
            self._record(batch, time.perf_counter() - t0, "ok")

    def _record(self, batch: list[_Request], seconds: float, outcome: str) -> None:
        """One ledger call per distinct (site, question) of the batch; never raises."""
        try:
            model = self.embedder.model_id
            latency = round(seconds * 1000, 3)
            for site_id, text in dict.fromkeys((r.site_id, r.text) for r in batch if r.site_id):
                tokens = self.embedder.count_tokens(text) if outcome == "ok" else 0
                self.recorder.record(
                    ModelCall(
                        site_id=site_id,
                        purpose="question_embedding",
                        provider=provider_of(model),
                        model=model,
                        input_tokens=tokens,
                        latency_ms=latency,
                        outcome=outcome,
                    )
                )
        except Exception:  # counting must never break the search it counts
            log.warning("recording question embeddings failed", exc_info=True)

    def close(self) -> None:
        self._queue.put(None)


class QueryVectorCache:
    """A small LRU of query → vector; repeated questions skip the model entirely."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
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
    query_vector: np.ndarray
    embed_ms: float
    search_ms: float


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 2)


class Retriever:
    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        metrics: Metrics,
        *,
        cache_size: int,
        recorder: UsageRecorder | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.metrics = metrics
        self.cache = QueryVectorCache(cache_size)
        self.batcher = EmbeddingBatcher(embedder, metrics=metrics, recorder=recorder)
        self._space: tuple[float, EmbeddingSpace | None] | None = None

    def embed_query(self, text: str, site_id: str = "") -> np.ndarray:
        key = " ".join(text.split())
        vector = self.cache.get(key)
        self.metrics.query_embedding_cache.labels("hit" if vector is not None else "miss").inc()
        if vector is None:
            vector = self.batcher.embed(key, site_id)
            self.cache.put(key, vector)
        return vector

    def space(self) -> EmbeddingSpace:
        """The active embedding space, checked against the loaded model (invariant 5)."""
        now = time.monotonic()
        if self._space is None or now - self._space[0] > SPACE_TTL_SECONDS:
            with self.store.connection() as conn:
                self._space = (now, active_space(conn))
        space = self._space[1]
        if space is None:
            raise ApiError(503, "no_index", "nothing has been indexed yet")
        if space.model != self.embedder.model_id or space.dimension != self.embedder.dimension:
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
        vector = self.embed_query(query, site_id)
        t1 = time.perf_counter()
        with self.store.search_connection() as conn:
            hits = hybrid_search(
                conn,
                site_id=site_id,
                space=space,
                query_text=query,
                query_vector=vector,
                k=k,
                ts_config=ts_config,
                filters=filters,
            )
        t2 = time.perf_counter()
        self.metrics.retrieval_hits.labels(endpoint).observe(len(hits))
        if not hits:
            self.metrics.retrieval_empty.labels(endpoint).inc()
        return Retrieval(hits, vector, _ms(t1 - t0), _ms(t2 - t1))
