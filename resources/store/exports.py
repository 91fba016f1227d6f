"""WXR exports of a site: which one is current, and what the last complete read found."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

# Unreadable items shown in a status (their count is exact; the store keeps up to 1000).
SHOWN_FAILURES = 20


def register_export(
    conn: psycopg.Connection,
    site_id: str,
    *,
    path: str,
    media_path: str | None,
    size: int,
    sha256: str,
) -> int:
    """Make `path` the site's current export (the previous ones stay as history)."""
    row = conn.execute(
        "INSERT INTO wxr_exports (site_id, path, media_path, bytes, sha256) "
        "VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (site_id, path, media_path, size, sha256),
    ).fetchone()
    assert row is not None
    return int(row[0])


def record_export_read(
    conn: psycopg.Connection, site_id: str, path: str, report: dict[str, Any]
) -> bool:
    """Record a complete read of the site's current export; False when `path` is no longer
    current (the export was replaced while a run was reading the old one)."""
    failures = report.get("failures", [])
    stats = {k: v for k, v in report.items() if k != "failures"}
    cur = conn.execute(
        """UPDATE wxr_exports SET read_at = now(), read_stats = %s::jsonb, failures = %s::jsonb
           WHERE id = (SELECT id FROM wxr_exports WHERE site_id = %s ORDER BY id DESC LIMIT 1)
             AND path = %s""",
        (json.dumps(stats), json.dumps(failures), site_id, path),
    )
    return cur.rowcount == 1


def current_export(conn: psycopg.Connection, site_id: str) -> dict[str, Any] | None:
    """The current export: path, media, size, hash, when it was given and last read, what
    that read found (counts, unreadable items). None for a site read through its REST API."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT path, media_path, bytes, sha256, registered_at, read_at, read_stats, "
            "failures, (SELECT count(*) FROM wxr_exports e WHERE e.site_id = %s) AS exports "
            "FROM wxr_exports WHERE site_id = %s ORDER BY id DESC LIMIT 1",
            (site_id, site_id),
        ).fetchone()
    if row is None:
        return None
    stats = row.pop("read_stats") or {}
    row["failures"] = row["failures"][:SHOWN_FAILURES]
    return {
        **row,
        "registered_at": row["registered_at"].isoformat(),
        "read_at": row["read_at"].isoformat() if row["read_at"] else None,
        "read_sha256": stats.get("sha256"),
        # The file at `path` was rewritten after it was given (same name, new content).
        "changed_since_registered": bool(stats.get("sha256") and row["sha256"])
        and stats.get("sha256") != row["sha256"],
        "items": stats.get("items"),
        "documents": stats.get("documents"),
        "unreadable_items": stats.get("failure_count", 0),
        "not_well_formed": stats.get("not_well_formed"),
        "read_seconds": stats.get("seconds"),
    }
