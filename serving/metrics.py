"""Prometheus metrics on the app's own registry (no global state shared between apps)."""

from __future__ import annotations

import time
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}


class _Ledger(Protocol):
    queued: int
    dropped: int


class _Chain(Protocol):
    def breakers(self) -> dict[str, str]: ...


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            "pressrag_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.retrieval_hits = Histogram(
            "pressrag_retrieval_hits",
            "Chunks returned by retrieval per request.",
            ["endpoint"],
            buckets=(0, 1, 2, 4, 6, 8, 12, 20, 50),
            registry=self.registry,
        )
        self.retrieval_empty = Counter(
            "pressrag_retrieval_empty_total",
            "Retrievals that returned no chunk.",
            ["endpoint"],
            registry=self.registry,
        )
        self.answers = Counter(
            "pressrag_answers_total",
            "Answers by mode (extractive, openai, not_found) and outcome.",
            ["mode", "outcome"],
            registry=self.registry,
        )
        self.llm_tokens = Counter(
            "pressrag_llm_tokens_total",
            "Tokens used by the answer model.",
            ["kind"],
            registry=self.registry,
        )
        self.query_embedding_cache = Counter(
            "pressrag_query_embedding_cache_total",
            "Query-embedding cache lookups by result.",
            ["result"],
            registry=self.registry,
        )
        self.query_embedding_batch = Histogram(
            "pressrag_query_embedding_batch_size",
            "Questions embedded together by the query batcher (bigger batches: cheaper each).",
            buckets=(1, 2, 4, 8, 16, 32),
            registry=self.registry,
        )
        self.answer_cache = Counter(
            "pressrag_answer_cache_total",
            "Answer cache lookups by result (hit, miss).",
            ["result"],
            registry=self.registry,
        )
        self.answer_cache_entries = Gauge(
            "pressrag_answer_cache_entries",
            "Answers in the shared cache (all replicas), as of the last housekeeping.",
            registry=self.registry,
        )
        self.answer_breaker = Gauge(
            "pressrag_answer_provider_breaker",
            "Circuit breaker of each answer provider: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=self.registry,
        )
        self.embedding_breaker = Gauge(
            "pressrag_embedding_provider_breaker",
            "Circuit breaker of each question-embedding provider: 0 closed, 1 half-open, 2 open.",
            ["provider"],
            registry=self.registry,
        )
        self.retrieval_degraded = Counter(
            "pressrag_retrieval_degraded_total",
            "Searches run on keywords alone because no provider could embed the question.",
            ["endpoint"],
            registry=self.registry,
        )
        self.usage_queued = Gauge(
            "pressrag_usage_ledger_queued",
            "Usage records waiting to be written to the ledger.",
            registry=self.registry,
        )
        self.usage_dropped = Gauge(
            "pressrag_usage_ledger_dropped",
            "Usage records dropped because the ledger's queue was full (database slow or down).",
            registry=self.registry,
        )

    def watch_answerer(self, chain: _Chain) -> None:
        """The breaker of each of the answerer's providers, read when scraped."""
        _watch_breakers(self.answer_breaker, chain)

    def watch_embedder(self, chain: _Chain) -> None:
        """The breaker of each of the question embedder's providers, read when scraped."""
        _watch_breakers(self.embedding_breaker, chain)

    def watch_ledger(self, ledger: _Ledger) -> None:
        self.usage_queued.set_function(lambda: ledger.queued)
        self.usage_dropped.set_function(lambda: ledger.dropped)


def _watch_breakers(gauge: Gauge, chain: _Chain) -> None:
    for name in chain.breakers():
        gauge.labels(name).set_function(lambda name=name: BREAKER_STATES[chain.breakers()[name]])


class MetricsMiddleware:
    """Times every HTTP request; labels use the route template, never the raw path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.request_seconds.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - start
            )
