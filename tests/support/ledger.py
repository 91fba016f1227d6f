"""Reading the usage ledger from tests: rows written after a mark, waiting for the batched
writer (serving flushes every `PRESSRAG_USAGE_FLUSH_SECONDS`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import psycopg


def db(url: str | None = None) -> psycopg.Connection:
    return psycopg.connect(url or os.environ["PRESSRAG_APP_DB_URL"], autocommit=True)


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the ledger did not catch up in time")
        time.sleep(0.1)


def mark(url: str | None = None) -> int:
    """The newest ledger row's id: rows after it are what a test caused."""
    with db(url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) FROM usage_events").fetchone()[0]


def calls_since(
    after: int, *, site: str, purpose: str | None = None, url: str | None = None
) -> list[tuple[str, str, str]]:
    """(purpose, provider, outcome) of the site's ledger rows after `after`, oldest first."""
    with db(url) as conn:
        rows = conn.execute(
            "SELECT purpose, provider, outcome FROM usage_events WHERE id > %s AND site_id = %s "
            "AND (%s::text IS NULL OR purpose = %s) ORDER BY id",
            (after, site, purpose, purpose),
        ).fetchall()
    return [tuple(r) for r in rows]


def wait_for_calls(
    after: int, count: int, *, site: str, purpose: str | None = None, url: str | None = None
) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []

    def enough() -> bool:
        found[:] = calls_since(after, site=site, purpose=purpose, url=url)
        return len(found) >= count

    eventually(enough)
    time.sleep(0.3)  # and nothing more than expected arrives after them
    return calls_since(after, site=site, purpose=purpose, url=url)
