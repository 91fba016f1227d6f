"""The usage ledger: model calls and served requests, written off the caller's path.

`record()` and `count_request()` only put an item on a bounded in-memory queue (a few
microseconds); one background thread writes what has gathered every `flush_seconds`, in one
transaction per batch: the raw events (`usage_events`, with their cost from the price table)
and the running totals the budgets and usage views read (`usage_counters`, `usage_requests`).

When the queue is full (the database has been unreachable for a while, or writes cannot keep
up) a new item is **dropped and counted** (`dropped`, logged at most once a minute): the
request that caused it is never slowed down or failed for the sake of its accounting. While
the database is down the writer keeps the batch it holds and retries it with backoff, so
nothing already taken from the queue is lost; items still queued when the process dies are.
`flush()` waits until everything queued so far is written (the Dagster embedding step calls it
before it ends; every ledger also flushes at exit).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

from pressrag.resources.gateway.prices import PriceTable
from pressrag.resources.usage import ModelCall

log = logging.getLogger(__name__)

MAX_BATCH = 2000
MAX_BACKOFF_SECONDS = 30.0
DROP_LOG_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class ServedRequest:
    site_id: str
    endpoint: str  # "search" | "ask"
    cache_hit: bool = False
    refused: bool = False  # turned away by a rate limit or budget


@dataclass(frozen=True)
class _Item:
    at: datetime
    entry: ModelCall | ServedRequest


class UsageLedger:
    """A `UsageRecorder` that batches into PostgreSQL from a background thread."""

    def __init__(
        self,
        conninfo: str | Callable[[], str],
        *,
        prices: PriceTable | None = None,
        queue_size: int = 10_000,
        flush_seconds: float = 0.5,
        on_drop: Callable[[], None] | None = None,
        enabled: bool = True,
    ) -> None:
        self._conninfo = conninfo
        self.prices = prices or PriceTable()
        self.flush_seconds = flush_seconds
        self.on_drop = on_drop
        self.enabled = enabled  # False: records nothing (PRESSRAG_USAGE_LEDGER=false)
        self.dropped = 0
        self.written = 0
        self.write_failures = 0
        self._queue: queue.Queue[_Item | threading.Event | None] = queue.Queue(queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._last_drop_log = 0.0
        self._conn: psycopg.Connection | None = None

    # ------------------------------------------------------------------ callers' side
    def record(self, call: ModelCall) -> None:
        self._put(_Item(datetime.now(UTC), call))

    def count_request(
        self, site_id: str, endpoint: str, *, cache_hit: bool = False, refused: bool = False
    ) -> None:
        self._put(_Item(datetime.now(UTC), ServedRequest(site_id, endpoint, cache_hit, refused)))

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def _put(self, item: _Item) -> None:
        if self._closed or not self.enabled:
            return
        self._ensure_thread()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop()
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL_SECONDS:
            self._last_drop_log = now
            log.warning(
                "usage ledger queue is full (database slow or down): %d records dropped so far",
                self.dropped,
            )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued before this call is written; False on timeout, or at
        once when the ledger is closed (its writer is gone: waiting would only time out, and
        an indexing step flushes after every shard)."""
        if self._thread is None:
            return True
        if self._closed or not self._thread.is_alive():
            return self._queue.empty()
        done = threading.Event()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued (within `timeout`), then stop the thread."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=1.0)
            self._thread.join(timeout=1.0)
        self._disconnect()

    # ------------------------------------------------------------------ the writer
    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="usage-ledger", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        batch: list[_Item] = []
        waiting: list[threading.Event] = []
        backoff = 0.0
        closing = False
        while True:
            if not batch:  # a batch that failed is retried before anything new is taken
                closing = self._gather(batch, waiting)
            if batch:
                try:
                    self._write(batch)
                except Exception as exc:  # database down or slow: keep the batch, try again
                    self.write_failures += 1
                    self._disconnect()
                    backoff = min(MAX_BACKOFF_SECONDS, max(0.5, backoff * 2))
                    log.warning(
                        "writing %d usage records failed (%s); retrying in %.1f s",
                        len(batch),
                        type(exc).__name__,
                        backoff,
                    )
                    if closing:  # shutting down: give up rather than hold the process
                        return
                    time.sleep(backoff)
                    continue
                backoff = 0.0
                self.written += len(batch)
                batch = []
            _release(waiting)
            if closing:
                return

    def _gather(self, batch: list[_Item], waiting: list[threading.Event]) -> bool:
        """Collect items for up to `flush_seconds` after the first one arrives (so a busy
        process writes a few batches a second, not one per request); stop early for a flush
        or a full batch. True when the ledger is closing."""
        try:
            item = self._queue.get(timeout=self.flush_seconds)
        except queue.Empty:
            return False
        deadline = time.monotonic() + self.flush_seconds
        while True:
            if item is None:
                return True
            if isinstance(item, threading.Event):
                waiting.append(item)
                return False  # someone waits for what came before it: write now
            batch.append(item)
            remaining = deadline - time.monotonic()
            if len(batch) >= MAX_BATCH or remaining <= 0:
                return False
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                return False

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conninfo = self._conninfo() if callable(self._conninfo) else self._conninfo
            self._conn = psycopg.connect(conninfo, connect_timeout=5)
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _write(self, batch: list[_Item]) -> None:
        calls = [(i.at, i.entry) for i in batch if isinstance(i.entry, ModelCall)]
        served = [(i.at, i.entry) for i in batch if isinstance(i.entry, ServedRequest)]
        conn = self._connection()
        with conn.transaction():
            if calls:
                self._write_calls(conn, calls)
            if served:
                _write_requests(conn, served)

    def _write_calls(
        self, conn: psycopg.Connection, calls: list[tuple[datetime, ModelCall]]
    ) -> None:
        rows = []
        totals: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0, Decimal(0), 0])
        for at, call in calls:
            cost = self.prices.cost(
                call.provider, call.model, call.input_tokens, call.output_tokens
            )
            rows.append((at, call, cost))
            total = totals[(call.site_id, at.date(), call.purpose, call.provider, call.model)]
            total[0] += 1
            total[1] += call.outcome != "ok"
            total[2] += call.input_tokens
            total[3] += call.output_tokens
            total[4] += cost.usd
            total[5] += not cost.priced
        conn.execute(
            """INSERT INTO usage_events (at, site_id, purpose, provider, model, input_tokens,
                                         output_tokens, cost_usd, priced, latency_ms, outcome)
               SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[],
                                    %s::text[], %s::bigint[], %s::bigint[], %s::numeric[],
                                    %s::boolean[], %s::real[], %s::text[])""",
            (
                [at for at, _, _ in rows],
                [c.site_id for _, c, _ in rows],
                [c.purpose for _, c, _ in rows],
                [c.provider for _, c, _ in rows],
                [c.model for _, c, _ in rows],
                [c.input_tokens for _, c, _ in rows],
                [c.output_tokens for _, c, _ in rows],
                [cost.usd for _, _, cost in rows],
                [cost.priced for _, _, cost in rows],
                [c.latency_ms for _, c, _ in rows],
                [c.outcome for _, c, _ in rows],
            ),
        )
        keys = list(totals)
        conn.execute(
            """INSERT INTO usage_counters AS u (site_id, day, purpose, provider, model, calls,
                                                errors, input_tokens, output_tokens, cost_usd,
                                                unpriced)
               SELECT * FROM unnest(%s::text[], %s::date[], %s::text[], %s::text[], %s::text[],
                                    %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
                                    %s::numeric[], %s::bigint[])
               ON CONFLICT (site_id, day, purpose, provider, model) DO UPDATE SET
                   calls = u.calls + EXCLUDED.calls,
                   errors = u.errors + EXCLUDED.errors,
                   input_tokens = u.input_tokens + EXCLUDED.input_tokens,
                   output_tokens = u.output_tokens + EXCLUDED.output_tokens,
                   cost_usd = u.cost_usd + EXCLUDED.cost_usd,
                   unpriced = u.unpriced + EXCLUDED.unpriced""",
            (
                *([k[i] for k in keys] for i in range(5)),
                *([totals[k][i] for k in keys] for i in range(6)),
            ),
        )


def _write_requests(conn: psycopg.Connection, served: list[tuple[datetime, ServedRequest]]) -> None:
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for at, request in served:
        total = totals[(request.site_id, at.date(), request.endpoint)]
        total[0] += not request.refused
        total[1] += request.cache_hit and not request.refused
        total[2] += request.refused
    keys = list(totals)
    conn.execute(
        """INSERT INTO usage_requests AS u (site_id, day, endpoint, requests, cache_hits, refused)
           SELECT * FROM unnest(%s::text[], %s::date[], %s::text[], %s::bigint[], %s::bigint[],
                                %s::bigint[])
           ON CONFLICT (site_id, day, endpoint) DO UPDATE SET
               requests = u.requests + EXCLUDED.requests,
               cache_hits = u.cache_hits + EXCLUDED.cache_hits,
               refused = u.refused + EXCLUDED.refused""",
        (
            *([k[i] for k in keys] for i in range(3)),
            *([totals[k][i] for k in keys] for i in range(3)),
        ),
    )


def _release(waiting: list[threading.Event]) -> None:
    for event in waiting:
        event.set()
    waiting.clear()


_process_ledger: UsageLedger | None = None
_process_lock = threading.Lock()


def process_ledger() -> UsageLedger:
    """This process's ledger for the app database (the URL is resolved when the first batch
    is written, so creating it costs nothing); flushed at exit."""
    global _process_ledger
    with _process_lock:
        if _process_ledger is None:
            from pressrag.resources.database import app_database_url
            from pressrag.resources.settings import get_settings

            settings = get_settings()
            _process_ledger = UsageLedger(
                lambda: app_database_url(get_settings()),
                prices=PriceTable(settings.prices),
                queue_size=settings.usage_queue_size,
                flush_seconds=settings.usage_flush_seconds,
                enabled=settings.usage_ledger,
            )
            atexit.register(_process_ledger.close)
        return _process_ledger
