"""Documents and their pipeline state: upserts from a source, stage queues, removals.

Every stage records the content hash it completed for; pending work is where that hash
differs from `content_hash`. Re-running a stage on unchanged content therefore does nothing,
and a run that died half-way is finished by the next one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from pressrag.resources.models import ChunkDraft, SourceDocument, exclusion_reason
from pressrag.resources.store.bulk import copy_rows
from pressrag.resources.store.text import plain_title, refused_url_reason, storable


@dataclass
class UpsertStats:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    excluded: int = 0  # not public (recorded, never indexed)
    removed: int = 0  # was in the index, now gone or not public
    seen_wp_ids: set[int] = field(default_factory=set)

    def as_metadata(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "excluded": self.excluded,
            "removed": self.removed,
        }


_UPSERT = """
INSERT INTO documents (
    site_id, wp_id, doc_type, url, title, status, visibility, exclusion_reason, author, terms,
    language, parent_wp_id, mime_type, media_url, published_gmt, modified_gmt, content_html,
    content_hash, url_refused)
VALUES (%(site_id)s, %(wp_id)s, %(doc_type)s, %(url)s, %(title)s, %(status)s, %(visibility)s,
    %(exclusion_reason)s, %(author)s, %(terms)s, %(language)s, %(parent_wp_id)s, %(mime_type)s,
    %(media_url)s, %(published_gmt)s, %(modified_gmt)s, %(content_html)s, %(content_hash)s,
    %(url_refused)s)
ON CONFLICT (site_id, wp_id) DO UPDATE SET
    doc_type = EXCLUDED.doc_type, url = EXCLUDED.url, title = EXCLUDED.title,
    status = EXCLUDED.status, visibility = EXCLUDED.visibility,
    exclusion_reason = EXCLUDED.exclusion_reason, author = EXCLUDED.author,
    terms = EXCLUDED.terms, language = EXCLUDED.language,
    parent_wp_id = EXCLUDED.parent_wp_id, mime_type = EXCLUDED.mime_type,
    media_url = EXCLUDED.media_url, published_gmt = EXCLUDED.published_gmt,
    modified_gmt = EXCLUDED.modified_gmt, content_html = EXCLUDED.content_html,
    content_hash = EXCLUDED.content_hash, url_refused = EXCLUDED.url_refused, updated_at = now(),
    -- A new content version starts with a clean slate (and leaves quarantine).
    last_error = CASE WHEN documents.content_hash = EXCLUDED.content_hash
                      THEN documents.last_error END,
    last_error_class = CASE WHEN documents.content_hash = EXCLUDED.content_hash
                            THEN documents.last_error_class END,
    last_error_stage = CASE WHEN documents.content_hash = EXCLUDED.content_hash
                            THEN documents.last_error_stage END,
    last_error_at = CASE WHEN documents.content_hash = EXCLUDED.content_hash
                         THEN documents.last_error_at END,
    failure_count = CASE WHEN documents.content_hash = EXCLUDED.content_hash
                         THEN documents.failure_count ELSE 0 END,
    quarantined_at = CASE WHEN documents.content_hash = EXCLUDED.content_hash
                          THEN documents.quarantined_at END
RETURNING id
"""


def _row(site_id: str, doc: SourceDocument, reason: str | None, origins: list[str]) -> dict:
    """The row to store: every text made storable, the title plain, an unsafe URL dropped."""
    url_refused = refused_url_reason(doc.url, origins)
    return {
        "site_id": site_id,
        "wp_id": doc.wp_id,
        "doc_type": storable(doc.type),
        "url": "" if url_refused else storable(doc.url),
        "url_refused": url_refused,
        "title": plain_title(doc.title),
        "status": storable(doc.status),
        "visibility": "excluded" if reason else "public",
        "exclusion_reason": reason and storable(reason),
        "author": storable(doc.author),
        "terms": json.dumps(
            {storable(k): [storable(t) for t in v] for k, v in doc.terms.items()}, sort_keys=True
        ),
        "language": doc.language and storable(doc.language),
        "parent_wp_id": doc.parent_id or None,
        "mime_type": doc.mime_type and storable(doc.mime_type),
        "media_url": doc.media_url and storable(doc.media_url),
        "published_gmt": doc.published_gmt,
        "modified_gmt": doc.modified_gmt,
        # Excluded content is not kept: only what the public sees is stored in full.
        "content_html": "" if reason else storable(doc.content_html),
        "content_hash": doc.content_hash(),
    }


def site_origins(conn: psycopg.Connection, site_id: str) -> list[str]:
    """The origins a result URL of this site may have: its base URL's and its registered ones."""
    row = conn.execute(
        "SELECT base_url, settings -> 'origins' FROM sites WHERE id = %s", (site_id,)
    ).fetchone()
    if row is None:
        return []
    registered = row[1] if isinstance(row[1], list) else []
    return [row[0], *(o for o in registered if isinstance(o, str))]


def public_wp_ids(conn: psycopg.Connection, site_id: str, wp_ids: Iterable[int]) -> set[int]:
    ids = list(set(wp_ids))
    if not ids:
        return set()
    rows = conn.execute(
        "SELECT wp_id FROM documents WHERE site_id = %s AND wp_id = ANY(%s) "
        "AND visibility = 'public'",
        (site_id, ids),
    )
    return {r[0] for r in rows}


def upsert_documents(
    conn: psycopg.Connection,
    site_id: str,
    docs: Sequence[SourceDocument],
    *,
    public_parents: set[int] | None = None,
    indexable_media: tuple[str, ...] | None = None,
) -> UpsertStats:
    """Record a batch of source documents; take non-public ones out of the index.

    `public_parents` are the WP ids of public posts (for attachments' visibility); when None
    they are looked up in `documents`. Attachments whose MIME type is not in
    `indexable_media` (images, video…) are recorded as excluded, since they have no text.
    """
    stats = UpsertStats()
    if not docs:
        return stats
    existing = {
        r[0]: (r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT wp_id, content_hash, visibility, indexed_hash IS NOT NULL FROM documents "
            "WHERE site_id = %s AND wp_id = ANY(%s)",
            (site_id, [d.wp_id for d in docs]),
        )
    }
    if public_parents is None:
        public_parents = public_wp_ids(conn, site_id, (d.parent_id or 0 for d in docs))
    origins = site_origins(conn, site_id)
    changed: list[tuple[dict, str | None, tuple | None]] = []
    for doc in docs:
        stats.seen_wp_ids.add(doc.wp_id)
        parent_public = None if not doc.parent_id else doc.parent_id in public_parents
        reason = exclusion_reason(doc, parent_public)
        if reason is None and doc.is_attachment and indexable_media is not None:
            mime = (doc.mime_type or "").split(";")[0].strip().lower()
            if mime not in indexable_media:
                reason = f"not indexable ({mime or 'unknown type'})"
        row = _row(site_id, doc, reason, origins)
        before = existing.get(doc.wp_id)
        if before and before[0] == row["content_hash"] and before[1] == row["visibility"]:
            stats.unchanged += 1
            if reason:
                stats.excluded += 1
            continue
        changed.append((row, reason, before))
    doc_ids = _upsert_rows(conn, [row for row, _, _ in changed])
    for doc_id, (_, reason, before) in zip(doc_ids, changed, strict=True):
        if reason:
            stats.excluded += 1
            if before and before[2]:
                stats.removed += 1
            _drop_from_index(conn, doc_id)
        elif before:
            stats.updated += 1
        else:
            stats.added += 1
    return stats


def _upsert_rows(conn: psycopg.Connection, rows: list[dict]) -> list[int]:
    """The rows' document ids, in order: one pipelined batch, not a round trip a row."""
    if not rows:
        return []
    ids: list[int] = []
    with conn.cursor() as cur:
        cur.executemany(_UPSERT, rows, returning=True)
        while True:
            ids.append(cur.fetchone()[0])
            if not cur.nextset():
                return ids


def _drop_from_index(conn: psycopg.Connection, doc_id: int) -> None:
    """Remove a document's chunks and pipeline state (same transaction as the caller)."""
    conn.execute("DELETE FROM chunks WHERE document_id = %s", (doc_id,))
    conn.execute("DELETE FROM chunk_drafts WHERE document_id = %s", (doc_id,))
    conn.execute(
        "UPDATE documents SET indexed_hash = NULL, indexed_at = NULL, text_hash = NULL, "
        "extracted_text = NULL, chunked_hash = NULL WHERE id = %s",
        (doc_id,),
    )


def delete_documents(conn: psycopg.Connection, site_id: str, wp_ids: Iterable[int]) -> int:
    """Delete documents (their chunks go with them via ON DELETE CASCADE, same transaction)."""
    ids = list(set(wp_ids))
    if not ids:
        return 0
    cur = conn.execute(
        "DELETE FROM documents WHERE site_id = %s AND wp_id = ANY(%s)", (site_id, ids)
    )
    return cur.rowcount


def delete_missing(
    conn: psycopg.Connection, site_id: str, seen_wp_ids: set[int], *, attachments: bool
) -> int:
    """After a full listing: delete this site's documents (of one kind) the source no longer has."""
    type_filter = "doc_type = 'attachment'" if attachments else "doc_type <> 'attachment'"
    cur = conn.execute(
        f"DELETE FROM documents WHERE site_id = %s AND {type_filter} AND NOT (wp_id = ANY(%s))",
        (site_id, list(seen_wp_ids)),
    )
    return cur.rowcount


def known_versions(conn: psycopg.Connection, site_id: str) -> dict[int, tuple[str, str | None]]:
    """wp_id -> (type, modified_gmt ISO) for the reconcile diff."""
    rows = conn.execute(
        "SELECT wp_id, doc_type, modified_gmt FROM documents WHERE site_id = %s", (site_id,)
    )
    return {r[0]: (r[1], r[2].isoformat() if r[2] else None) for r in rows}


# ---- stage queues -------------------------------------------------------------------------


# What each stage still has to do for a site: public, not quarantined, and the stage's hash
# behind the content (or everything, with force). Stages run in this order, so each one's
# queue holds only documents the previous stage finished.
_PENDING = {
    "extract": "text_hash IS DISTINCT FROM content_hash",
    "chunk": "text_hash = content_hash AND chunked_hash IS DISTINCT FROM content_hash",
    "embed": "chunked_hash = content_hash AND indexed_hash IS DISTINCT FROM content_hash",
}
_FORCED = {
    "extract": "TRUE",
    "chunk": "text_hash = content_hash",
    "embed": "chunked_hash = content_hash",
}

# A shard of a stage's queue: the documents whose ids lie in [first, last] (assets/indexing/
# shards.py). None is the whole queue.
IdRange = tuple[int, int]


def _pending_where(stage: str, force: bool, id_range: IdRange | None) -> str:
    cond = _FORCED[stage] if force else _PENDING[stage]
    in_range = "AND id BETWEEN %(first)s AND %(last)s" if id_range else ""
    return (
        "site_id = %(site)s AND visibility = 'public' AND quarantined_at IS NULL "
        f"AND {cond} {in_range}"
    )


def _pending(
    conn: psycopg.Connection,
    columns: str,
    site_id: str,
    stage: str,
    force: bool,
    id_range: IdRange | None,
) -> list[dict]:
    first, last = id_range or (None, None)
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            f"SELECT {columns} FROM documents WHERE {_pending_where(stage, force, id_range)} "
            "ORDER BY id",
            {"site": site_id, "first": first, "last": last},
        ).fetchall()


def pending_ids(
    conn: psycopg.Connection, site_id: str, stage: str, *, force: bool = False
) -> list[int]:
    """The ids in a stage's queue, ascending: what its shards are cut from."""
    return [r["id"] for r in _pending(conn, "id", site_id, stage, force, None)]


def pending_extraction(
    conn: psycopg.Connection,
    site_id: str,
    *,
    force: bool = False,
    id_range: IdRange | None = None,
) -> list[dict]:
    return _pending(
        conn,
        "id, wp_id, doc_type, title, url, content_html, content_hash, mime_type, media_url",
        site_id,
        "extract",
        force,
        id_range,
    )


def save_extracted_texts(
    conn: psycopg.Connection, texts: Sequence[tuple[int, str, str]]
) -> set[int]:
    """Store (document id, content hash, text) rows in one statement; the ids stored (a
    document whose content moved on since is left alone)."""
    if not texts:
        return set()
    ids, hashes, values = zip(*texts, strict=True)
    rows = conn.execute(
        "UPDATE documents d SET extracted_text = u.text, text_hash = d.content_hash "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u (id, content_hash, text) "
        # `d.id = ANY`: rows found by key whatever the statistics say (lock_unchanged).
        "WHERE d.id = ANY(%s) AND d.id = u.id AND d.content_hash = u.content_hash RETURNING d.id",
        (list(ids), list(hashes), [storable(v) for v in values], list(ids)),
    )
    return {row[0] for row in rows}


# ---- failures and quarantine -----------------------------------------------------------------

MAX_ERROR_CHARS = 1000

_RECORD_FAILURE = """
UPDATE documents SET
    last_error = %(error)s, last_error_class = %(error_class)s, last_error_stage = %(stage)s,
    last_error_at = now(),
    failure_count = CASE WHEN failed_hash = content_hash THEN failure_count + 1 ELSE 1 END,
    failed_hash = content_hash,
    quarantined_at = CASE
        WHEN (CASE WHEN failed_hash = content_hash THEN failure_count + 1 ELSE 1 END)
             >= %(quarantine_after)s THEN now() END,
    -- The next attempt starts again from extraction.
    text_hash = NULL, extracted_text = NULL, chunked_hash = NULL,
    indexed_hash = NULL, indexed_at = NULL
WHERE id = %(id)s AND content_hash = %(content_hash)s
RETURNING quarantined_at IS NOT NULL
"""


def record_failure(
    conn: psycopg.Connection,
    doc_id: int,
    content_hash: str,
    *,
    stage: str,
    error_class: str,
    error: str,
    quarantine_after: int,
) -> bool:
    """Record that a stage failed on this content version and take the document out of the
    index (its old chunks would answer from content that no longer exists).

    Returns True when this failure quarantined it (`quarantine_after` failures of the same
    content). Nothing is recorded when the content changed meanwhile: that version is new.
    """
    row = conn.execute(
        _RECORD_FAILURE,
        {
            "id": doc_id,
            "content_hash": content_hash,
            "stage": stage,
            "error_class": storable(error_class)[:200],
            "error": storable(error)[:MAX_ERROR_CHARS],
            "quarantine_after": max(1, quarantine_after),
        },
    ).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM chunks WHERE document_id = %s", (doc_id,))
    conn.execute("DELETE FROM chunk_drafts WHERE document_id = %s", (doc_id,))
    return bool(row[0])


def clear_failures(conn: psycopg.Connection, doc_ids: Sequence[int]) -> None:
    """Forget past failures of documents that are now indexed at their current content."""
    conn.execute(
        "UPDATE documents SET last_error = NULL, last_error_class = NULL, "
        "last_error_stage = NULL, last_error_at = NULL, failure_count = 0, failed_hash = NULL, "
        "quarantined_at = NULL WHERE id = ANY(%s) AND indexed_hash = content_hash "
        "AND (last_error IS NOT NULL OR failure_count > 0)",
        (list(doc_ids),),
    )


def has_document(conn: psycopg.Connection, site_id: str, wp_id: int) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM documents WHERE site_id = %s AND wp_id = %s", (site_id, wp_id)
        ).fetchone()
    )


def release_quarantine(
    conn: psycopg.Connection, site_id: str, wp_id: int | None = None
) -> list[int]:
    """Let quarantined documents (all of a site's, or one) be tried again; their WP ids."""
    only_one = "AND wp_id = %(wp_id)s" if wp_id is not None else ""
    rows = conn.execute(
        "UPDATE documents SET quarantined_at = NULL, failure_count = 0, failed_hash = NULL "
        f"WHERE site_id = %(site)s AND quarantined_at IS NOT NULL {only_one} "
        "RETURNING wp_id",
        {"site": site_id, "wp_id": wp_id},
    ).fetchall()
    return sorted(r[0] for r in rows)


def pending_chunking(
    conn: psycopg.Connection,
    site_id: str,
    *,
    force: bool = False,
    id_range: IdRange | None = None,
) -> list[dict]:
    return _pending(
        conn, "id, wp_id, title, extracted_text, content_hash", site_id, "chunk", force, id_range
    )


def lock_unchanged(
    conn: psycopg.Connection, documents: Sequence[tuple[int, str]], *, where: str = "TRUE"
) -> set[int]:
    """Lock the documents (id, content hash) whose content is still that hash, in id order so
    that concurrent writers cannot deadlock; the ids locked. `where` narrows them further
    (a fixed SQL condition on `d`, never user input).

    The rows are found by primary key and their hashes compared here. Joined to the
    (id, hash) pairs in SQL, a planner with stale statistics (a site's first run, before
    autovacuum analyzed `documents`) chose a nested loop over every document of the table
    for each pair: 1.3 M comparisons and ~0.45 s for 256 documents of a 5,000-document site,
    up to ~9 CPU s of its first index, as autovacuum came late or early. A row whose content
    moved on is locked with the others until the caller's transaction ends, and left out."""
    expected = dict(documents)
    rows = conn.execute(
        f"SELECT d.id, d.content_hash FROM documents d WHERE d.id = ANY(%s) AND {where} "
        "ORDER BY d.id FOR UPDATE OF d",
        (list(expected),),
    )
    return {doc_id for doc_id, content_hash in rows if expected[doc_id] == content_hash}


_COPY_DRAFTS = (
    "COPY chunk_drafts (document_id, ordinal, heading_path, text, embed_text, token_count, "
    "content_hash) FROM STDIN (FORMAT BINARY)"
)
_DRAFT_TYPES = ["int8", "int4", "text[]", "text", "text", "int4", "text"]


def save_many_drafts(
    conn: psycopg.Connection, documents: Sequence[tuple[int, str, Sequence[ChunkDraft]]]
) -> set[int]:
    """Replace the chunk drafts of (id, content hash, drafts), in four statements for all of
    them (caller's transaction); the ids saved. A document whose content changed since it
    was chunked is skipped: its next run chunks the new content."""
    if not documents:
        return set()
    locked = lock_unchanged(conn, [(d[0], d[1]) for d in documents])
    if not locked:
        return set()
    ids = sorted(locked)
    conn.execute("DELETE FROM chunk_drafts WHERE document_id = ANY(%s)", (ids,))
    # One binary COPY: an INSERT a draft, even pipelined, cost PostgreSQL a statement each.
    rows = (
        _draft_row(doc_id, d) for doc_id, _, drafts in documents if doc_id in locked for d in drafts
    )
    copy_rows(conn, _COPY_DRAFTS, _DRAFT_TYPES, rows)
    conn.execute("UPDATE documents SET chunked_hash = content_hash WHERE id = ANY(%s)", (ids,))
    return locked


def _draft_row(doc_id: int, d: ChunkDraft) -> tuple:
    return (
        doc_id,
        d.ordinal,
        [storable(h) for h in d.heading_path],
        storable(d.text),
        storable(d.embed_text),
        d.token_count,
        d.content_hash,
    )


def pending_embedding(
    conn: psycopg.Connection,
    site_id: str,
    *,
    force: bool = False,
    id_range: IdRange | None = None,
) -> list[dict]:
    """Documents whose drafts are ready and whose live chunks are older (or all, with force)."""
    return _pending(conn, "id, wp_id, title, content_hash", site_id, "embed", force, id_range)


def drafts_for(conn: psycopg.Connection, doc_ids: Sequence[int]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {i: [] for i in doc_ids}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(
            "SELECT document_id, ordinal, heading_path, text, embed_text, token_count, "
            "content_hash FROM chunk_drafts WHERE document_id = ANY(%s) "
            "ORDER BY document_id, ordinal",
            (list(doc_ids),),
        ):
            out[row["document_id"]].append(row)
    return out


def draft_count(conn: psycopg.Connection, doc_ids: Sequence[int]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM chunk_drafts WHERE document_id = ANY(%s)", (list(doc_ids),)
    ).fetchone()
    return row[0] if row else 0


def mark_indexed_without_chunks(conn: psycopg.Connection, doc_id: int, content_hash: str) -> None:
    """A public document with no text (e.g. an empty page) is indexed as having no chunks."""
    conn.execute("DELETE FROM chunks WHERE document_id = %s", (doc_id,))
    conn.execute(
        "UPDATE documents SET indexed_hash = content_hash, indexed_at = now() "
        "WHERE id = %s AND content_hash = %s",
        (doc_id, content_hash),
    )


def apply_parent_visibility(conn: psycopg.Connection, site_id: str) -> dict[str, int]:
    """Attachments follow their parent: hide those whose parent stopped being public, and
    show again those hidden only because of a parent that is public again."""
    hidden = conn.execute(
        """UPDATE documents a SET visibility = 'excluded', exclusion_reason = 'parent not public',
                  updated_at = now()
           FROM documents p
           WHERE a.site_id = %(site)s AND p.site_id = %(site)s AND a.doc_type = 'attachment'
             AND a.parent_wp_id = p.wp_id AND p.visibility = 'excluded'
             AND a.visibility = 'public'
           RETURNING a.id""",
        {"site": site_id},
    ).fetchall()
    for (doc_id,) in hidden:
        _drop_from_index(conn, doc_id)
    shown = conn.execute(
        """UPDATE documents a SET visibility = 'public', exclusion_reason = NULL,
                  text_hash = NULL, updated_at = now()
           FROM documents p
           WHERE a.site_id = %(site)s AND p.site_id = %(site)s AND a.doc_type = 'attachment'
             AND a.parent_wp_id = p.wp_id AND p.visibility = 'public'
             AND a.visibility = 'excluded' AND a.exclusion_reason = 'parent not public'
           RETURNING a.id""",
        {"site": site_id},
    ).fetchall()
    return {"hidden": len(hidden), "shown": len(shown)}
