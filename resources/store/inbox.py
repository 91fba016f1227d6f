"""The webhook inbox: durable intake, batches launched by the sensor, outcomes of their runs.

Life of an event: `pending` (stored by the webhook route) → `launched` (claimed by the
sensor into a batch, one batch per site per tick) → `processed` when the batch's run
succeeds, or back to `pending` with `attempts + 1` when it fails, and `dead` once the
attempts reach the cap. Unknown event types are stored, then marked `ignored` by the sensor.
Every transition is conditional on the current status, so a late or repeated report (two
sensors, a redelivered run event) changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg

DEFAULT_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class InboxEvent:
    id: int
    event_id: str
    site_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int


def insert_event(
    conn: psycopg.Connection,
    *,
    event_id: str,
    site_id: str,
    event_type: str,
    payload: dict[str, Any],
    processed: bool = False,
) -> bool:
    """Store an event; False when its id was stored before (a redelivery: nothing changes).
    `processed`: the caller applies it in this transaction, so the sensor never sees it."""
    row = conn.execute(
        "INSERT INTO inbox (event_id, site_id, event_type, payload, status, processed_at) "
        "VALUES (%s, %s, %s, %s, %s, CASE WHEN %s THEN now() END) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING id",
        (
            event_id,
            site_id,
            event_type,
            json.dumps(payload),
            "processed" if processed else "pending",
            processed,
        ),
    ).fetchone()
    return row is not None


def pending_page(conn: psycopg.Connection, *, after_id: int, limit: int) -> list[InboxEvent]:
    """Pending events with id > after_id, oldest first (keyset paging over the partial index)."""
    rows = conn.execute(
        "SELECT id, event_id, site_id, event_type, payload, attempts FROM inbox "
        "WHERE status = 'pending' AND id > %s ORDER BY id LIMIT %s",
        (after_id, limit),
    ).fetchall()
    return [InboxEvent(*row) for row in rows]


def claim(conn: psycopg.Connection, ids: list[int], batch_id: str) -> int:
    """Mark pending events as launched in `batch_id`; returns how many were still pending."""
    if not ids:
        return 0
    return conn.execute(
        "UPDATE inbox SET status = 'launched', batch_id = %s, launched_at = now() "
        "WHERE id = ANY(%s) AND status = 'pending'",
        (batch_id, ids),
    ).rowcount


def mark_ignored(conn: psycopg.Connection, ids: list[int], reason: str) -> int:
    if not ids:
        return 0
    return conn.execute(
        "UPDATE inbox SET status = 'ignored', last_error = %s, processed_at = now() "
        "WHERE id = ANY(%s) AND status = 'pending'",
        (reason, ids),
    ).rowcount


def finish_batch(conn: psycopg.Connection, batch_id: str, run_id: str) -> int:
    """The batch's run succeeded: its events are processed, with that run's id."""
    return conn.execute(
        "UPDATE inbox SET status = 'processed', run_id = %s, processed_at = now(), "
        "last_error = NULL WHERE batch_id = %s AND status = 'launched'",
        (run_id, batch_id),
    ).rowcount


def fail_batch(
    conn: psycopg.Connection,
    batch_id: str,
    run_id: str | None,
    error: str,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> dict[str, int]:
    """The batch's run failed (or never started): retry its events, or give up past the cap."""
    rows = conn.execute(
        """UPDATE inbox SET
               attempts = attempts + 1,
               status = CASE WHEN attempts + 1 >= %(cap)s THEN 'dead' ELSE 'pending' END,
               run_id = coalesce(%(run_id)s, run_id),
               last_error = %(error)s,
               batch_id = NULL,
               launched_at = NULL
           WHERE batch_id = %(batch)s AND status = 'launched'
           RETURNING status""",
        {"cap": max_attempts, "run_id": run_id, "error": error[:2000], "batch": batch_id},
    ).fetchall()
    statuses = [r[0] for r in rows]
    return {"retried": statuses.count("pending"), "dead": statuses.count("dead")}


def launched_batches(conn: psycopg.Connection, *, older_than_seconds: float) -> list[str]:
    """Batches launched more than `older_than_seconds` ago and still unresolved."""
    rows = conn.execute(
        "SELECT DISTINCT batch_id FROM inbox WHERE status = 'launched' "
        "AND launched_at < now() - make_interval(secs => %s)",
        (older_than_seconds,),
    ).fetchall()
    return [r[0] for r in rows if r[0]]
