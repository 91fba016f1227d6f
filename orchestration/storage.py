"""Dagster's PostgreSQL storage with a pool of connections (dagster.yaml: `storage: custom`).

dagster-postgres opens a new connection for every statement (SQLAlchemy's NullPool; only the
webserver pools). Each one is a new PostgreSQL backend, ~8 ms of the server's CPU on these
machines: an idle instance's daemon opened ~45 a second (~23 each sensor tick), ~0.4 of a
core spent on nothing, and every run worker opened one for each event it wrote. This is the
same storage, its three engines pooled; a connection is checked before use, so a restarted
PostgreSQL costs a reconnect rather than a failed tick.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import sqlalchemy as sa
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# Connections kept open per engine: the daemon's busiest engine serves its eight sensor
# threads and its other daemons at once; fewer would open and close the rest every loop.
POOL_SIZE = 8
MAX_OVERFLOW = 16

_engines: weakref.WeakSet[sa.engine.Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    """A forked child (Celery's pool workers) must not use its parent's sockets."""
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage`, configured the same way, with pooled connections."""

    def __init__(self, postgres_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(postgres_url, *args, **kwargs)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            _pool(storage)

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


def _pool(storage: Any) -> None:
    """Swap the storage's per-statement engine for a pooled one, closed with the storage."""
    unpooled: sa.engine.Engine = storage._engine
    engine = create_pg_engine(
        storage.postgres_url,
        storage._token_provider,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_pre_ping=True,
    )
    unpooled.dispose()
    storage._engine = engine
    _engines.add(engine)
    # Dagster does not dispose every storage it creates (a sensor tick's instance in the code
    # server, the schedule storage): the pool closes its connections when the storage goes.
    weakref.finalize(storage, engine.dispose)
