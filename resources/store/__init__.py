"""The Postgres + pgvector store: one pool, migrations at start-up, SQL grouped by concern.

Callers borrow a connection (`with store.connection() as conn:`) and use the functions of
the concern modules; the transaction commits when the block exits without error. Serving's
searches borrow from a second pool of search sessions (`store.search_connection()`), opened
on first use: autocommit, with the search settings applied once per connection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from pressrag.resources.store.migrations import apply_migrations
from pressrag.resources.store.search import configure_search_session
from pressrag.resources.store.spaces import EmbeddingSpace, active_space, ensure_space

log = logging.getLogger(__name__)

__all__ = ["EmbeddingSpace", "Store"]


class Store:
    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        checked: bool = False,
        wait_seconds: float = 30.0,
    ) -> None:
        self.conninfo = conninfo
        self.max_size = max_size
        self.wait_seconds = wait_seconds  # how long borrowing waits before PoolTimeout
        self._search_pool: ConnectionPool | None = None
        self._search_pool_lock = threading.Lock()
        apply_migrations(conninfo)  # before the pool: register_vector needs the extension
        self.pool = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            configure=register_vector,
            # Long-lived processes that run steps (a run worker, a code server, a CLI) check a
            # connection before lending it: after a PostgreSQL restart their pooled connections
            # were dead and a run's first query failed (AdminShutdown). Serving does not: its
            # requests answer 503 at once and the pool replaces broken connections itself.
            check=ConnectionPool.check_connection if checked else None,
            timeout=wait_seconds,
            open=True,
            name="pressrag",
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def search_connection(self) -> Iterator[psycopg.Connection]:
        """A search session for `hybrid_search`: one statement per search (no transaction)."""
        with self._search_sessions().connection() as conn:
            yield conn

    def _search_sessions(self) -> ConnectionPool:
        with self._search_pool_lock:
            if self._search_pool is None:
                self._search_pool = ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=self.max_size,
                    configure=_configure_search,
                    timeout=self.wait_seconds,
                    open=True,
                    name="pressrag-search",
                )
            return self._search_pool

    def ensure_space(self, model: str, dimension: int) -> EmbeddingSpace:
        with self.connection() as conn:
            return ensure_space(conn, model, dimension)

    def active_space(self) -> EmbeddingSpace | None:
        with self.connection() as conn:
            return active_space(conn)

    def close(self) -> None:
        with self._search_pool_lock:
            if self._search_pool is not None:
                self._search_pool.close()
        self.pool.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _configure_search(conn: psycopg.Connection) -> None:
    register_vector(conn)
    configure_search_session(conn)
