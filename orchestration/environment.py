"""Process environment for Dagster and serving: database URLs, DAGSTER_HOME, offline flags.

Every entry point (CLI commands, `pressrag up`) calls `prepare()` first, so child processes —
Dagster's webserver, daemon, code server and run workers, and the serving app — inherit one
resolved database and one instance configuration. The command line is PressRAG's local mode:
only it starts the embedded PostgreSQL when no DATABASE_URL is set.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from pressrag.resources.database import DatabaseUrls, export_database_env, resolve_database_urls
from pressrag.resources.settings import Settings, get_settings

# The repository's dagster.yaml, shipped in the package (orchestration/dagster.yaml links to it).
INSTANCE_TEMPLATE = files("pressrag.orchestration") / "dagster.yaml"


def prepare(settings: Settings | None = None) -> DatabaseUrls:
    settings = settings or get_settings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ["PRESSRAG_HOME"] = str(settings.resolved_home)
    urls = resolve_database_urls(settings, command_line=True)
    export_database_env(urls)
    os.environ["DAGSTER_HOME"] = str(dagster_home(settings))
    ensure_dagster_tables(urls.dagster)
    return urls


# One table of each of Dagster's three storages, and the one its run storage adds later.
DAGSTER_TABLES = ("runs", "instance_info", "event_logs", "jobs")


def ensure_dagster_tables(url: str) -> None:
    """Create Dagster's tables in a database that lacks them; one query when they exist.

    dagster.yaml turns Dagster's own check off (`should_autocreate_tables: false`): it ran in
    every process that opened the instance, every sensor tick included.
    """
    import sqlalchemy as sa
    from dagster_postgres import DagsterPostgresStorage

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT count(to_regclass(name)) FROM unnest(CAST(:names AS text[])) name"),
                {"names": list(DAGSTER_TABLES)},
            ).scalar_one()
    finally:
        engine.dispose()
    if found < len(DAGSTER_TABLES):
        DagsterPostgresStorage(url, should_autocreate_tables=True)


def dagster_home(settings: Settings) -> Path:
    """$PRESSRAG_HOME/dagster with a copy of dagster.yaml (package data).

    The copy is refreshed every time so an edit of dagster.yaml takes effect on the next
    command; an operator who sets DAGSTER_HOME keeps full control of their own instance.
    """
    explicit = os.environ.get("PRESSRAG_DAGSTER_HOME")
    if explicit:
        return Path(explicit)
    home = settings.resolved_home / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    template = INSTANCE_TEMPLATE.read_bytes()
    if not target.exists() or target.read_bytes() != template:
        target.write_bytes(template)
    return home
