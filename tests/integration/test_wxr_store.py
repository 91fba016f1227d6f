"""The `wxr_exports` record: the current export, its reads, and sites from before it existed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pressrag.resources.store.exports import current_export, record_export_read, register_export
from pressrag.resources.store.migrations import apply_migrations, available_migrations
from tests.conftest import PressragEnv

pytestmark = pytest.mark.integration


@pytest.fixture
def database(pressrag_env: PressragEnv) -> Iterator[str]:
    """A private, empty database on the embedded server."""
    name = f"wxr_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pressrag_env.app_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = pressrag_env.app_url.replace("/pressrag?", f"/{name}?")
    try:
        yield url
    finally:
        with psycopg.connect(pressrag_env.app_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _site(conn: psycopg.Connection, site_id: str, kind: str, path: str | None) -> None:
    conn.execute(
        "INSERT INTO sites (id, source_kind, base_url, wxr_path) VALUES (%s, %s, %s, %s)",
        (site_id, kind, "https://example.org", path),
    )


def test_wxr_sites_from_before_the_table_get_their_current_export(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("CREATE TABLE schema_migrations (version int PRIMARY KEY, name text)")
        for number, name, sql in available_migrations():
            if number < 5:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (number, name))
        _site(conn, "old-wxr", "wxr", "/data/export.xml")
        _site(conn, "old-rest", "rest", None)

    assert "0005_wxr_exports.sql" in apply_migrations(database)

    with psycopg.connect(database) as conn:
        export = current_export(conn, "old-wxr")
        assert export is not None
        assert (export["path"], export["sha256"], export["read_at"]) == (
            "/data/export.xml",
            None,
            None,
        )
        assert record_export_read(conn, "old-wxr", "/data/export.xml", {"sha256": "ab", "items": 3})
        assert current_export(conn, "old-wxr")["changed_since_registered"] is False
        assert current_export(conn, "old-rest") is None


def test_a_read_of_a_replaced_export_does_not_overwrite_the_new_one(database: str) -> None:
    """A run still reading the old file finishes after `sites update`: its report is not
    the new export's."""
    apply_migrations(database)
    with psycopg.connect(database) as conn:
        _site(conn, "s", "wxr", "/old.xml")
        register_export(conn, "s", path="/old.xml", media_path=None, size=10, sha256="aa")
        register_export(conn, "s", path="/new.xml", media_path="/up.zip", size=20, sha256="bb")

        assert not record_export_read(conn, "s", "/old.xml", {"items": 1, "sha256": "aa"})
        assert record_export_read(
            conn,
            "s",
            "/new.xml",
            {
                "items": 2,
                "documents": 1,
                "failure_count": 1,
                "sha256": "cc",
                "failures": [{"line": 9, "wp_id": 4, "title": "T", "reason": "r"}],
            },
        )
        export = current_export(conn, "s")

    assert export is not None
    assert (export["path"], export["media_path"], export["exports"]) == ("/new.xml", "/up.zip", 2)
    assert (export["items"], export["documents"], export["unreadable_items"]) == (2, 1, 1)
    assert export["failures"] == [{"line": 9, "wp_id": 4, "title": "T", "reason": "r"}]
    assert export["changed_since_registered"] is True  # read "cc", given as "bb"
