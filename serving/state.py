"""What the app holds between requests, built in the lifespan.

Start-up is split so the process answers `/healthz` at once: the connection pool, the
embedding model (the local one: ~0.4 s with ONNX Runtime, plus ~20 s the first time on a
machine, to export it) and the answerer are opened in a background thread, and `/readyz`
reports when they are there. Requests that need them wait
up to `ready_wait_seconds`, then get a 503. The rate limits count in the process until the
database is open, then in it (shared by every replica: serving/ratelimit.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from pressrag.resources.database import app_database_url
from pressrag.resources.embedders import Embedder, make_embedder
from pressrag.resources.gateway.embedding_failover import EmbedderChain, make_embedding_chain
from pressrag.resources.gateway.failover import AnswererChain, make_answer_chain
from pressrag.resources.gateway.ledger import UsageLedger, process_ledger
from pressrag.resources.secrets import SecretStore
from pressrag.resources.store import Store
from pressrag.serving.budgets import BudgetGate
from pressrag.serving.directory import SiteDirectory
from pressrag.serving.errors import ApiError
from pressrag.serving.housekeeping import Housekeeper
from pressrag.serving.metrics import Metrics
from pressrag.serving.ratelimit import Limit, RateLimits
from pressrag.serving.retrieval import Retriever
from pressrag.serving.settings import ServingSettings

log = logging.getLogger("serving")


@dataclass
class Components:
    store: Store
    embedder: Embedder  # the index's model, as configured (the chain's primary)
    embeddings: EmbedderChain  # question embeddings: the embedder, then a same-space secondary
    answerer: AnswererChain
    directory: SiteDirectory
    retriever: Retriever
    ledger: UsageLedger
    budgets: BudgetGate


@dataclass
class Services:
    settings: ServingSettings
    metrics: Metrics
    limits: RateLimits
    ready: threading.Event = field(default_factory=threading.Event)
    components: Components | None = None
    startup_error: str | None = None
    closing: threading.Event = field(default_factory=threading.Event)
    housekeeper: Housekeeper | None = None

    @classmethod
    def create(cls, settings: ServingSettings) -> Services:
        return cls(
            settings=settings,
            metrics=Metrics(),
            limits=RateLimits(
                client=Limit(
                    "client",
                    settings.rate_limit_client_per_minute,
                    settings.rate_limit_client_burst,
                ),
                site=Limit(
                    "site", settings.rate_limit_site_per_minute, settings.rate_limit_site_burst
                ),
            ),
        )

    @property
    def admin_key(self) -> str | None:
        key = self.settings.admin_api_key
        return key.get_secret_value() if key else None

    def require(self) -> Components:
        """The opened components, waiting for start-up if it is still running."""
        if not self.ready.wait(self.settings.ready_wait_seconds) or self.components is None:
            message = "the service is starting" if not self.startup_error else self.startup_error
            raise ApiError(503, "not_ready", message, headers={"Retry-After": "5"})
        return self.components

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        threading.Thread(target=self._open, name="pressrag-startup", daemon=True).start()

    def _open(self) -> None:
        settings = self.settings
        store = None
        while store is None and not self.closing.is_set():
            try:
                store = Store(
                    app_database_url(settings),
                    max_size=settings.db_pool_size,
                    wait_seconds=settings.db_wait_seconds,
                )
            except Exception as exc:  # keep trying: the database may come up later
                self.startup_error = f"database unreachable ({type(exc).__name__})"
                log.warning("%s; retrying in 2 s", self.startup_error)
                self.closing.wait(2.0)
        if store is None:
            return
        self.limits.connect(store.conninfo)  # shared from now on; in-process until then
        try:
            embedder = make_embedder(settings, backend=settings.embed_backend)
            load = getattr(embedder, "load", None)
            if callable(load):
                t0 = time.perf_counter()
                load()
                log.info("embedding model loaded in %.1f s", time.perf_counter() - t0)
            embeddings = make_embedding_chain(settings, embedder)
            answerer = make_answer_chain(
                settings,
                embeddings,  # the extractive answerer's sentences fail over too
                max_tokens=settings.answer_max_tokens,
                recorder=process_ledger(),
            )
        except Exception as exc:
            self.startup_error = f"start-up failed: {type(exc).__name__}: {exc}"
            log.error("%s", self.startup_error)
            store.close()
            return
        ledger = process_ledger()
        self.metrics.watch_ledger(ledger)
        self.metrics.watch_answerer(answerer)
        self.metrics.watch_embedder(embeddings)
        self.components = Components(
            store=store,
            embedder=embedder,
            embeddings=embeddings,
            answerer=answerer,
            directory=SiteDirectory(
                store, SecretStore(settings.resolved_home), ttl=settings.site_cache_seconds
            ),
            retriever=Retriever(
                store,
                embeddings,
                self.metrics,
                cache_size=settings.query_cache_size,
                recorder=ledger,
            ),
            ledger=ledger,
            budgets=BudgetGate(store, ttl=settings.budget_cache_seconds),
        )
        self.housekeeper = Housekeeper(settings, store, self.metrics)
        self.housekeeper.start()
        self.startup_error = None
        self.ready.set()
        log.info(
            "ready (answerer: %s, embedder: %s via %s)",
            answerer.mode,
            embedder.model_id,
            " → ".join(embeddings.names()),
        )

    def close(self) -> None:
        self.closing.set()
        self.limits.close()
        if self.housekeeper is not None:
            self.housekeeper.stop()
        if self.components is not None:
            self.components.retriever.batcher.close()
            self.components.ledger.close()  # writes what is queued (a few seconds at most)
            self.components.store.close()
