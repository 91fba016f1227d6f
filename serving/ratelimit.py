"""Rate limits per client and per site, shared by every serving replica through PostgreSQL.

A request is counted in its client's bucket, then its site's (`RateLimits.acquire`), in the
`rate_limits` table of the app database (resources/store/rate_limits.py: GCRA, one statement
and one round trip for both buckets), so N replicas allow the configured limit, not N times
it. The statements run on a small pool of autocommit connections of the limiter's own: on the
store's pool (transactions) each take would cost two more round trips, BEGIN and COMMIT.

When the database cannot be reached the limits fail open to the in-process buckets of
`RateLimiter`: each replica then enforces the limit on its own (N replicas allow N times it)
for `RETRY_SECONDS`, and tries the database again. A limiter must not turn an outage into 5xx
on every request, nor make each request wait for a dead database: the routes that need the
data answer their own 503 quickly.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg_pool import ConnectionPool

from pressrag.resources.store import rate_limits

log = logging.getLogger("serving.ratelimit")

POOL_SIZE = 4  # a take holds a connection for ~0.2 ms
POOL_WAIT_SECONDS = 1.0  # a request waits at most this long for the shared limits
RETRY_SECONDS = 5.0  # after a database error, count in this process for this long
PRUNE_SECONDS = 60.0


@dataclass(frozen=True)
class Limit:
    """A family of buckets, one per key: `burst` requests at once, `per_minute` sustained."""

    name: str  # "client" or "site": keeps the families' keys apart in the shared table
    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True)
class Refusal:
    limit: Limit
    wait: float  # seconds until the bucket has room for one request


class RateLimits:
    """The per-client and per-site limits, counted in PostgreSQL once `connect`ed."""

    def __init__(
        self, client: Limit, site: Limit, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.site = site
        self._clock = clock
        self._local = {
            limit: RateLimiter(limit.per_minute, limit.burst, clock=clock)
            for limit in (client, site)
        }
        # Slower than the defaults: a site's own requests_per_minute budget (`for_site`).
        self._slowest = min(client.per_second, site.per_second)
        self._pool: ConnectionPool | None = None
        self._shared_from = 0.0  # clock time from which the database is tried again
        self._closed = threading.Event()

    def connect(self, conninfo: str) -> None:
        """Count in the database of `conninfo` (migrated) from now on; prune it every minute."""
        if self._closed.is_set():
            return
        self._pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True, "prepare_threshold": 0},  # prepared on first use
            timeout=POOL_WAIT_SECONDS,
            open=True,
            name="pressrag-rate-limits",
        )
        threading.Thread(target=self._prune_forever, name="rate-limit-prune", daemon=True).start()

    def for_site(self, per_minute: float | None) -> Limit:
        """The site family's limit for a site with its own requests_per_minute budget (its
        burst at most a minute's worth), else the default."""
        if not per_minute:
            return self.site
        burst = max(1, min(self.site.burst, int(per_minute)))
        limit = Limit(self.site.name, per_minute, burst)
        self._slowest = min(self._slowest, limit.per_second)
        return limit

    def acquire(self, *claims: tuple[Limit, str]) -> Refusal | None:
        """Count one request in the bucket of each (limit, key), in order, up to the first
        without room: None when the request may go on, else that limit and the wait."""
        pool = self._pool
        if pool is not None and self._clock() >= self._shared_from:
            try:
                return self._acquire_shared(pool, claims)
            except psycopg.Error as exc:
                self._shared_from = self._clock() + RETRY_SECONDS
                log.warning(
                    "rate limits: database unavailable (%s); counting in this process for %.0f s",
                    type(exc).__name__,
                    RETRY_SECONDS,
                )
        return self._acquire_local(claims)

    def _acquire_shared(
        self, pool: ConnectionPool, claims: tuple[tuple[Limit, str], ...]
    ) -> Refusal | None:
        takes = [
            rate_limits.Take(f"{limit.name}:{key}", limit.per_second, float(limit.burst))
            for limit, key in claims
        ]
        with pool.connection() as conn:
            refused = rate_limits.take(conn, takes)
        return None if refused is None else Refusal(claims[refused.index][0], refused.wait)

    def _acquire_local(self, claims: tuple[tuple[Limit, str], ...]) -> Refusal | None:
        for limit, key in claims:
            local = self._local.get(limit)
            if local is None:  # a site's own limit, met while the database is out of reach
                local = self._local.setdefault(
                    limit, RateLimiter(limit.per_minute, limit.burst, clock=self._clock)
                )
            wait = local.acquire(key)
            if wait is not None:
                return Refusal(limit, wait)
        return None

    def prune(self) -> int:
        """Forget the buckets that have drained; returns how many."""
        if self._pool is None:
            return 0
        with self._pool.connection() as conn:
            return rate_limits.prune(conn, self._slowest)

    def _prune_forever(self) -> None:
        while not self._closed.wait(PRUNE_SECONDS):
            try:
                self.prune()
            except psycopg.Error as exc:  # the database may be down: next time
                log.warning("rate limits: pruning failed (%s)", type(exc).__name__)

    def close(self) -> None:
        self._closed.set()
        if self._pool is not None:
            self._pool.close()


class RateLimiter:
    """In-process token buckets, the fallback of `RateLimits` (one process's share only).

    Each key gets a bucket of `burst` tokens refilled at `per_minute / 60` tokens a second; a
    request takes one. The table is bounded (least recently used keys are dropped), so a flood
    of distinct clients cannot grow memory.
    """

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0  # tokens per second
        self.burst = float(burst)
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, time
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Take a token for `key`: None when allowed, else seconds until one is available."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = None
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        return wait


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
