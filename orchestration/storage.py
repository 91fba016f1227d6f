"""Dagster's PostgreSQL storage with a pool of connections (dagster.yaml: `storage: custom`).

dagster-postgres opens a new connection for every statement (SQLAlchemy's NullPool; only the
webserver pools). Each one is a new PostgreSQL backend, ~8 ms of the server's CPU on these
machines: an idle instance's daemon opened ~45 a second (~23 each sensor tick), ~0.4 of a
core spent on nothing, and every run worker opened one for each event it wrote. This is the
same storage with one pool of connections per database and process; a connection is checked
before use, so a restarted PostgreSQL costs a reconnect rather than a failed tick.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import sqlalchemy as sa
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# One pool per database URL and process, shared by every instance the process opens: the code
# server opens a new instance for each sensor tick, and a pool of its own would connect again
# each time. The daemon's eight sensor threads and its other daemons use it at once.
POOL_SIZE = 10
MAX_OVERFLOW = 20

_lock = threading.Lock()
_engines: dict[str, sa.engine.Engine] = {}


def _forget_inherited_connections() -> None:
    """A forked child (Celery's pool workers) must not use its parent's sockets."""
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage`, configured the same way, with pooled connections."""

    def __init__(self, postgres_url: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(postgres_url, *args, **kwargs)
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            unpooled: sa.engine.Engine = storage._engine
            storage._engine = pooled_engine(postgres_url, storage._token_provider)
            unpooled.dispose()

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


def pooled_engine(url: str, token_provider: Any) -> sa.engine.Engine:
    """This process's engine for `url`, as dagster-postgres makes it but pooled."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = create_pg_engine(
                url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=POOL_SIZE,
                max_overflow=MAX_OVERFLOW,
                pool_pre_ping=True,
            )
        return engine
