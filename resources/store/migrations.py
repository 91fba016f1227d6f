"""Numbered SQL migrations, applied at start-up and recorded in `schema_migrations`.

A transaction-scoped advisory lock serialises concurrent starters: the second process waits,
then finds every migration recorded and applies nothing.
"""

from __future__ import annotations

import logging
import re
from importlib import resources as package_files

import psycopg

log = logging.getLogger(__name__)

_LOCK_KEY = 0x70726573  # "pres": any constant shared by every PressRAG process
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available_migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration shipped in resources/migrations."""
    folder = package_files.files("pressrag.resources") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise RuntimeError(f"two migrations share a number: {sorted(numbers)}")
    return sorted(found)


def apply_migrations(conninfo: str) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now."""
    applied_now: list[str] = []
    with psycopg.connect(conninfo, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    int PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for number, name, sql in available_migrations():
            if number in done:
                continue
            log.info("applying migration %s", name)
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (number, name)
            )
            applied_now.append(name)
        conn.commit()  # one transaction: all pending migrations land together, or none
    return applied_now
