"""The Postgres + pgvector store: one pool, migrations at start-up, SQL grouped by concern.

Callers borrow a connection (`with store.connection() as conn:`) and use the functions of
the concern modules; the transaction commits when the block exits without error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from resources.store.migrations import apply_migrations
from resources.store.spaces import EmbeddingSpace, active_space, ensure_space

log = logging.getLogger(__name__)

__all__ = ["EmbeddingSpace", "Store"]


class Store:
    def __init__(self, conninfo: str, *, min_size: int = 1, max_size: int = 8) -> None:
        self.conninfo = conninfo
        apply_migrations(conninfo)  # before the pool: register_vector needs the extension
        self.pool = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            configure=register_vector,
            open=True,
            name="pressrag",
        )

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.pool.connection() as conn:
            yield conn

    def ensure_space(self, model: str, dimension: int) -> EmbeddingSpace:
        with self.connection() as conn:
            return ensure_space(conn, model, dimension)

    def active_space(self) -> EmbeddingSpace | None:
        with self.connection() as conn:
            return active_space(conn)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
