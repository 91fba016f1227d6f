"""Summaries and their delivery in Postgres (table `summaries`, migration 0007).

A summary's `content_hash` is the hash of what it summarises — the document's title and its
extracted text — and the summary is *current* while that hash is unchanged. Pending work is
exactly what is not current (or failed fewer than `MAX_ATTEMPTS` times for this version), so a
re-run on unchanged content makes no generator call and an edit re-summarises only what
changed. Changes that do not touch the text (terms, author, the excerpt the plugin may fill
from the summary itself) re-summarise nothing. Every query names its site.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

MAX_ATTEMPTS = 3  # failed tries per content version before waiting for an edit or "regenerate"

# The hash of what a summary is made from, for the document's current extracted text (callers
# also require `text_hash = content_hash`: the text is of the current version).
SOURCE_HASH = (
    "encode(sha256(convert_to(d.title || E'\\n' || coalesce(d.extracted_text, ''), 'UTF8')), 'hex')"
)


@dataclass(frozen=True)
class PendingSummary:
    document_id: int
    wp_id: int
    doc_type: str
    title: str
    language: str | None
    text: str
    content_hash: str
    attempts: int  # failed attempts already made for this content version


def pending_summaries(
    conn: psycopg.Connection,
    site_id: str,
    *,
    regenerate_wp_ids: Iterable[int] = (),
    force: bool = False,
) -> list[PendingSummary]:
    """Public documents with text extracted for their current content and no current summary;
    plus those asked to be regenerated (or all of them with `force`)."""
    rows = conn.execute(
        f"""WITH docs AS (
               SELECT d.id, d.wp_id, d.doc_type, d.title, d.language, d.extracted_text,
                      {SOURCE_HASH} AS source_hash
               FROM documents d
               WHERE d.site_id = %(site)s AND d.visibility = 'public'
                 AND d.text_hash = d.content_hash)
           SELECT docs.*, CASE WHEN s.content_hash = docs.source_hash AND s.status = 'failed'
                               THEN s.attempts ELSE 0 END
           FROM docs LEFT JOIN summaries s ON s.document_id = docs.id
           WHERE %(force)s OR docs.wp_id = ANY(%(regen)s)
              OR s.document_id IS NULL OR s.content_hash <> docs.source_hash
              OR (s.status = 'failed' AND s.attempts < %(cap)s)
           ORDER BY docs.id""",
        {
            "site": site_id,
            "force": force,
            "regen": list(set(regenerate_wp_ids)),
            "cap": MAX_ATTEMPTS,
        },
    ).fetchall()
    return [PendingSummary(*r[:5], r[5] or "", r[6], r[7]) for r in rows]


_SAVE = f"""
INSERT INTO summaries AS s (document_id, site_id, content_hash, status, summary, generator,
                            model, language, detail, attempts, generated_at)
SELECT d.id, d.site_id, %(hash)s, %(status)s, %(summary)s, %(generator)s, %(model)s,
       %(language)s, %(detail)s, %(attempts)s, clock_timestamp()
FROM documents d
WHERE d.id = %(doc)s AND d.text_hash = d.content_hash AND {SOURCE_HASH} = %(hash)s
ON CONFLICT (document_id) DO UPDATE SET
    content_hash = EXCLUDED.content_hash, status = EXCLUDED.status,
    summary = EXCLUDED.summary, generator = EXCLUDED.generator, model = EXCLUDED.model,
    language = EXCLUDED.language, detail = EXCLUDED.detail, attempts = EXCLUDED.attempts,
    generated_at = EXCLUDED.generated_at
"""


def save_summary(
    conn: psycopg.Connection,
    doc: PendingSummary,
    *,
    status: str,
    generator: str,
    model: str,
    summary: str | None = None,
    language: str | None = None,
    detail: str | None = None,
) -> bool:
    """Record the outcome for the content version it was made from (False if the document
    moved on meanwhile: the next run summarises the new version). A failure keeps no text:
    the summary of an older version must not pass for the current one."""
    cur = conn.execute(
        _SAVE,
        {
            "doc": doc.document_id,
            "hash": doc.content_hash,
            "status": status,
            "summary": summary,
            "generator": generator,
            "model": model,
            "language": language,
            "detail": (detail or "")[:2000] or None,
            "attempts": doc.attempts + 1 if status == "failed" else 0,
        },
    )
    return cur.rowcount == 1


def remove_non_public(conn: psycopg.Connection, site_id: str) -> int:
    """Drop summaries of documents that are no longer public (private, draft, protected)."""
    return conn.execute(
        "DELETE FROM summaries s USING documents d WHERE s.document_id = d.id "
        "AND d.site_id = %s AND d.visibility <> 'public'",
        (site_id,),
    ).rowcount


@dataclass(frozen=True)
class Delivery:
    document_id: int
    wp_id: int
    doc_type: str
    content_hash: str
    summary: str
    generator: str
    model: str
    language: str | None
    generated_at: datetime

    def as_item(self) -> dict:
        """One item of a `summaries.deliver` callback (docs/contracts.md)."""
        return {
            "wp_id": self.wp_id,
            "content_hash": self.content_hash,
            "summary": self.summary,
            "generator": self.generator,
            "model": self.model,
            "language": self.language,
            "generated_at": self.generated_at.isoformat(timespec="microseconds"),
        }


def pending_deliveries(
    conn: psycopg.Connection, site_id: str, *, limit: int, after_document_id: int = 0
) -> list[Delivery]:
    """Current summaries of public documents that WordPress has not confirmed yet, in pages
    by document id. Visibility is read here, at send time, so a post made private since it
    was summarised is not sent."""
    rows = conn.execute(
        f"""SELECT s.document_id, d.wp_id, d.doc_type, s.content_hash, s.summary, s.generator,
                  s.model, s.language, s.generated_at
           FROM summaries s JOIN documents d ON d.id = s.document_id AND d.site_id = s.site_id
           WHERE s.site_id = %s AND s.status = 'summarised'
             AND s.delivered_version IS DISTINCT FROM s.generated_at
             AND d.visibility = 'public' AND d.text_hash = d.content_hash
             AND s.content_hash = {SOURCE_HASH}
             AND s.document_id > %s
           ORDER BY s.document_id LIMIT %s""",
        (site_id, after_document_id, limit),
    ).fetchall()
    return [Delivery(*r) for r in rows]


def record_delivery(
    conn: psycopg.Connection, delivery: Delivery, *, status: str, note: str | None = None
) -> None:
    """WordPress answered for this version: `delivered` (stored, or already had it) or
    `skipped` (not public there, or gone) — either way it is not sent again."""
    conn.execute(
        "UPDATE summaries SET delivered_version = %s, delivery_status = %s, delivery_note = %s, "
        "delivered_at = now() WHERE document_id = %s AND generated_at = %s",
        (delivery.generated_at, status, note, delivery.document_id, delivery.generated_at),
    )


def missing_summaries(
    conn: psycopg.Connection, site_id: str, *, limit: int = 20
) -> tuple[int, list[dict]]:
    """How many public documents with current text have no current summary (failed ones
    included), and the first `limit` of them."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            f"""SELECT d.wp_id, d.title, s.status, s.detail, count(*) OVER () AS total
               FROM documents d LEFT JOIN summaries s ON s.document_id = d.id
               WHERE d.site_id = %s AND d.visibility = 'public'
                 AND d.text_hash = d.content_hash
                 AND (s.document_id IS NULL OR s.content_hash <> {SOURCE_HASH}
                      OR s.status = 'failed')
               ORDER BY d.wp_id LIMIT %s""",
            (site_id, limit),
        ).fetchall()
    return (rows[0]["total"] if rows else 0), rows


def counts(conn: psycopg.Connection, site_id: str) -> dict[str, int]:
    """Summaries of one site by status, plus how many WordPress has confirmed."""
    row = conn.execute(
        """SELECT count(*) FILTER (WHERE status = 'summarised'),
                  count(*) FILTER (WHERE status = 'skipped'),
                  count(*) FILTER (WHERE status = 'failed'),
                  count(*) FILTER (WHERE delivery_status = 'delivered'
                                   AND delivered_version = generated_at),
                  count(*) FILTER (WHERE delivery_status = 'skipped'
                                   AND delivered_version = generated_at)
           FROM summaries WHERE site_id = %s""",
        (site_id,),
    ).fetchone()
    names = ("summarised", "skipped", "failed", "delivered", "refused_by_wordpress")
    return dict(zip(names, row, strict=True))


def list_summaries(conn: psycopg.Connection, site_id: str) -> list[dict]:
    """Every summary of a site with its document, for `pressrag summaries`."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"""SELECT d.wp_id, d.title, d.url, s.status, s.summary, s.generator, s.model,
                      s.language, s.detail, s.generated_at, s.delivery_status, s.delivery_note,
                      s.delivered_at,
                      d.text_hash = d.content_hash AND s.content_hash = {SOURCE_HASH} AS current
               FROM summaries s JOIN documents d ON d.id = s.document_id
               WHERE s.site_id = %s ORDER BY d.wp_id""",
            (site_id,),
        ).fetchall()


@dataclass(frozen=True)
class RequestEvent:
    id: int
    event_id: str
    site_id: str
    event_type: str
    data: dict


def request_events(conn: psycopg.Connection, *, after_id: int, limit: int) -> list[RequestEvent]:
    """Write-back requests from the webhook inbox with ids after `after_id`, oldest first.

    The write-back sensor is a second reader of the inbox with its own cursor: the events are
    durable there (stored before WordPress got its 202), whatever the indexing sensor does
    with their status."""
    # The types are literals, as in the partial index's predicate, so the planner can use it.
    rows = conn.execute(
        "SELECT id, event_id, site_id, event_type, payload -> 'data' FROM inbox "
        "WHERE event_type IN ('summary.regenerate_requested', 'draft.requested') "
        "AND id > %s ORDER BY id LIMIT %s",
        (after_id, limit),
    ).fetchall()
    return [
        RequestEvent(r[0], r[1], r[2], r[3], r[4] if isinstance(r[4], dict) else {}) for r in rows
    ]
