"""The embedded PostgreSQL is an explicit local mode: only the `pressrag` command line (or
PRESSRAG_EMBEDDED_DATABASE=1) starts one. A serving replica or a Dagster worker with no
database configured fails with one line naming the variable, and starts no server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pressrag.resources.database import app_database_url, require_database, resolve_database_urls
from pressrag.resources.errors import ConfigError
from pressrag.resources.settings import Settings

URL_VARIABLES = (
    "DATABASE_URL",
    "PRESSRAG_DATABASE_URL",
    "PRESSRAG_APP_DB_URL",
    "PRESSRAG_DAGSTER_PG_URL",
    "PRESSRAG_EMBEDDED_DATABASE",
)


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in URL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRESSRAG_HOME", str(tmp_path))
    return tmp_path


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)


def test_a_worker_without_a_database_fails_naming_the_variable(no_database: Path) -> None:
    for attempt in (
        lambda: app_database_url(_settings()),
        lambda: require_database(_settings()),
        lambda: resolve_database_urls(_settings()),
    ):
        with pytest.raises(ConfigError, match="set DATABASE_URL"):
            attempt()
    assert not (no_database / "pgdata").exists(), "an embedded server was started"


def test_embedded_database_false_refuses_even_the_command_line(no_database: Path) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        resolve_database_urls(_settings(embedded_database=False), command_line=True)
    assert not (no_database / "pgdata").exists()


def test_a_configured_url_is_used_without_any_server(no_database: Path) -> None:
    url = "postgresql://pressrag@db.internal:5432/pressrag"
    urls = resolve_database_urls(_settings(database_url=url))
    assert (urls.app, urls.embedded) == (url, False)
    require_database(_settings(database_url=url))
    assert not (no_database / "pgdata").exists()


def test_serving_without_a_database_exits_at_once_with_one_line(no_database: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in URL_VARIABLES}
    done = subprocess.run(
        [sys.executable, "-m", "pressrag.serving", "--port", "0"],
        env={**env, "PRESSRAG_HOME": str(no_database)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "set DATABASE_URL" in lines[0], done.stderr
    assert not (no_database / "pgdata").exists()
