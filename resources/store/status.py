"""Per-site index status and the run log, for `pressrag status` and the status API."""

from __future__ import annotations

import json

import psycopg
from psycopg.rows import dict_row

from pressrag.resources.store.exports import current_export


def site_status(conn: psycopg.Connection, site_id: str) -> dict:
    counts = conn.execute(
        """SELECT count(*) FILTER (WHERE visibility = 'public'),
                  count(*) FILTER (WHERE visibility = 'excluded'),
                  count(*) FILTER (WHERE visibility = 'public' AND indexed_hash = content_hash)
           FROM documents WHERE site_id = %s""",
        (site_id,),
    ).fetchone()
    chunks = conn.execute(
        "SELECT count(*) FROM chunks c JOIN embedding_spaces s ON s.id = c.space_id "
        "WHERE c.site_id = %s AND s.state = 'active'",
        (site_id,),
    ).fetchone()[0]
    inbox = dict(
        conn.execute(
            "SELECT status, count(*) FROM inbox WHERE site_id = %s GROUP BY status", (site_id,)
        ).fetchall()
    )
    with conn.cursor(row_factory=dict_row) as cur:
        last = cur.execute(
            "SELECT run_id, kind, status, started_at, finished_at, stats FROM index_runs "
            "WHERE site_id = %s ORDER BY started_at DESC LIMIT 1",
            (site_id,),
        ).fetchone()
    if last:
        for key in ("started_at", "finished_at"):
            last[key] = last[key].isoformat() if last[key] else None
    return {
        "site": site_id,
        "documents": counts[0],
        "indexed_documents": counts[2],
        "chunks": chunks,
        "excluded": counts[1],
        **failure_status(conn, site_id),
        "pending_events": inbox.get("pending", 0) + inbox.get("launched", 0),
        "dead_events": inbox.get("dead", 0),
        "last_run": last,
        "export": current_export(conn, site_id),  # WXR sites: current export, last read
    }


MAX_LISTED_FAILURES = 20

_FAILED_DOCUMENTS = """
SELECT wp_id, title, last_error_stage AS stage, last_error_class AS error_class,
       last_error AS error, last_error_at AS failed_at,
       CASE WHEN failed_hash = content_hash THEN failure_count ELSE 0 END AS failure_count,
       quarantined_at IS NOT NULL AS quarantined, quarantined_at
FROM documents WHERE site_id = %s AND last_error IS NOT NULL
ORDER BY quarantined_at IS NULL, wp_id LIMIT %s
"""


def failure_status(conn: psycopg.Connection, site_id: str) -> dict:
    """Documents whose last attempt failed (quarantined first), and dropped result URLs."""
    failures, quarantined, refused_urls = conn.execute(
        "SELECT count(*) FILTER (WHERE last_error IS NOT NULL), "
        "count(*) FILTER (WHERE quarantined_at IS NOT NULL), "
        "count(*) FILTER (WHERE url_refused IS NOT NULL) FROM documents WHERE site_id = %s",
        (site_id,),
    ).fetchone()
    with conn.cursor(row_factory=dict_row) as cur:
        listed = cur.execute(_FAILED_DOCUMENTS, (site_id, MAX_LISTED_FAILURES)).fetchall()
    for row in listed:
        for key in ("failed_at", "quarantined_at"):
            row[key] = row[key].isoformat() if row[key] else None
    return {
        "failures": failures,
        "quarantined": quarantined,
        "failed_documents": listed,
        "refused_urls": refused_urls,
    }


def quarantined_count(conn: psycopg.Connection, site_id: str) -> int:
    return conn.execute(
        "SELECT count(*) FROM documents WHERE site_id = %s AND quarantined_at IS NOT NULL",
        (site_id,),
    ).fetchone()[0]


def start_run(conn: psycopg.Connection, run_id: str, site_id: str, kind: str) -> None:
    conn.execute(
        "INSERT INTO index_runs (run_id, site_id, kind) VALUES (%s, %s, %s) "
        "ON CONFLICT (run_id) DO NOTHING",
        (run_id, site_id, kind),
    )


def finish_run(
    conn: psycopg.Connection, run_id: str, status: str, stats: dict | None = None
) -> None:
    conn.execute(
        "UPDATE index_runs SET status = %s, finished_at = now(), stats = stats || %s::jsonb "
        "WHERE run_id = %s",
        (status, json.dumps(stats or {}, default=str), run_id),
    )


def merge_run_stats(conn: psycopg.Connection, run_id: str, stats: dict) -> None:
    conn.execute(
        "UPDATE index_runs SET stats = stats || %s::jsonb WHERE run_id = %s",
        (json.dumps(stats, default=str), run_id),
    )


def indexed_before(conn: psycopg.Connection, site_id: str, run_id: str) -> bool:
    """Whether an indexing run other than `run_id` has succeeded for the site (so a full pass
    now can report drift; a site's first index cannot)."""
    row = conn.execute(
        "SELECT 1 FROM index_runs WHERE site_id = %s AND run_id <> %s "
        "AND finished_at IS NOT NULL AND status = 'succeeded' LIMIT 1",
        (site_id, run_id),
    ).fetchone()
    return row is not None


def open_run_ids(conn: psycopg.Connection) -> list[str]:
    """Runs whose row still says "running"."""
    rows = conn.execute("SELECT run_id FROM index_runs WHERE status = 'running'").fetchall()
    return [row[0] for row in rows]


def close_unfinished_run(
    conn: psycopg.Connection, run_id: str, status: str, *, failed_step: str | None, error: str
) -> bool:
    """Record how a run ended that never finished its row itself (failed, canceled, or its
    worker died); a row already closed is left alone. Returns whether a row was closed."""
    outcome = {"failed_step": failed_step, "error": error[:2000]}
    return (
        conn.execute(
            "UPDATE index_runs SET status = %s, finished_at = now(), stats = stats || %s::jsonb "
            "WHERE run_id = %s AND status = 'running'",
            (status, json.dumps(outcome), run_id),
        ).rowcount
        == 1
    )
