"""Live chunks and the embedding cache.

`publish_documents_chunks` is the only writer of live chunks: it swaps documents' chunks for
a space in the caller's transaction, so a reader sees a document's old version or its new
one, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import psycopg

from pressrag.resources.store.bulk import copy_rows
from pressrag.resources.store.documents import lock_unchanged
from pressrag.resources.store.spaces import EmbeddingSpace

# A batch of documents' live chunks are made by one INSERT … SELECT from their drafts and the
# embedding cache, inside PostgreSQL: the search statistics' triggers (migration 0003) run
# once per statement, and no draft or vector travels to the client and back (reading both
# and copying them into a staging table cost ~6 s of a 23,519-chunk first index's ~14 s of
# publishing). Title (A) and headings (B) are weighted in the full-text vector; every chunk
# carries its document's chunk count (migration 0015), which search reads from the row. The
# documents are named on both sides of their join: with only the drafts' side, a planner with
# stale statistics (a first index) scanned and sorted the whole `documents` table per batch.
_INSERT_FROM_DRAFTS = """
INSERT INTO chunks (document_id, site_id, space_id, ordinal, document_chunks, title,
                    heading_path, text, token_count, content_hash, embedding, tsv)
SELECT d.document_id, %(site)s, %(space)s, d.ordinal,
       count(*) OVER (PARTITION BY d.document_id), doc.title, d.heading_path, d.text,
       d.token_count, d.content_hash, e.embedding,
       setweight(to_tsvector(%(config)s::regconfig, doc.title), 'A')
       || setweight(to_tsvector(%(config)s::regconfig, array_to_string(d.heading_path, ' ')), 'B')
       || to_tsvector(%(config)s::regconfig, d.text)
FROM chunk_drafts d
JOIN documents doc ON doc.id = d.document_id AND doc.id = ANY(%(ids)s)
JOIN embedding_cache e ON e.model = %(model)s AND e.content_hash = d.content_hash
WHERE d.document_id = ANY(%(ids)s)
"""
# Checked first, so that a missing vector or one of another width is a clear error (the
# join above would drop the chunk; the column takes any width). Each draft's vector is looked
# up by key in a subquery, which the planner keeps as one index probe a draft: as a join, a
# planner that overestimated the drafts (a first index, before autovacuum's analyze) hashed
# the whole cache, in parallel, for every batch (~0.17 s each on 23,519 cached vectors).
_VECTOR_PROBLEMS = """
SELECT count(*) FILTER (WHERE dims IS NULL), min(dims) FILTER (WHERE dims <> %(dimension)s)
FROM (
    SELECT (SELECT vector_dims(e.embedding) FROM embedding_cache e
            WHERE e.model = %(model)s AND e.content_hash = d.content_hash) AS dims
    FROM chunk_drafts d
    WHERE d.document_id = ANY(%(ids)s)
) AS drafts
"""


def cached_vectors(
    conn: psycopg.Connection, model: str, hashes: Iterable[str]
) -> dict[str, np.ndarray]:
    keys = list(set(hashes))
    if not keys:
        return {}
    # In binary: the text format's 384 numbers are parsed one by one in Python (~0.17 ms a
    # vector, ~4 s of a 23,519-chunk first index); the binary one is the float4 bytes.
    # (Vectors are already written in binary: pgvector registers that dumper last.)
    rows = conn.execute(
        "SELECT content_hash, embedding FROM embedding_cache "
        "WHERE model = %s AND content_hash = ANY(%s)",
        (model, keys),
        binary=True,
    )
    return {h: as_array(v) for h, v in rows}


def as_array(value: object) -> np.ndarray:
    """pgvector's loader returns `Vector` objects; the embedders and inserts use numpy."""
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


# Vectors go into the cache the same way, staged then upserted by one statement; in hash
# order, so two shards storing some of the same texts take their row locks in one order.
_STAGE_VECTORS = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS staged_vectors (content_hash text, embedding vector)"
)
_COPY_VECTORS = "COPY pg_temp.staged_vectors FROM STDIN (FORMAT BINARY)"
_UPSERT_STAGED_VECTORS = """
WITH staged AS (DELETE FROM pg_temp.staged_vectors RETURNING *)
INSERT INTO embedding_cache (model, content_hash, embedding)
SELECT %s, content_hash, embedding FROM staged ORDER BY content_hash
ON CONFLICT (model, content_hash) DO UPDATE SET embedding = EXCLUDED.embedding
"""


def store_vectors(conn: psycopg.Connection, model: str, vectors: dict[str, np.ndarray]) -> None:
    if not vectors:
        return
    conn.execute(_STAGE_VECTORS)
    copy_rows(conn, _COPY_VECTORS, ["text", "vector"], vectors.items())
    conn.execute(_UPSERT_STAGED_VECTORS, (model,))


def publish_documents_chunks(
    conn: psycopg.Connection,
    *,
    site_id: str,
    documents: Sequence[tuple[int, str]],
    space: EmbeddingSpace,
    ts_config: str,
) -> set[int]:
    """Replace the live chunks of documents (id, content hash) with their drafts and the
    drafts' vectors from the embedding cache (caller commits); the ids published.

    A document that changed since its drafts were made is skipped, writing nothing. Each
    statement covers all the documents, so the search statistics' triggers run once per
    statement instead of once per document: per document, every common lexeme's `lexicon`
    row was updated again in the same transaction, and each update had to step over all
    the row's earlier versions (~0.2 s per document after a few hundred, on 2 cores).
    """
    if not documents:
        return set()
    locked = lock_unchanged(
        conn, documents, where="d.chunked_hash = d.content_hash AND d.visibility = 'public'"
    )
    if not locked:
        return set()
    ids = sorted(locked)
    _require_vectors(conn, ids, space)
    conn.execute(
        "DELETE FROM chunks WHERE document_id = ANY(%s) AND space_id = %s", (ids, space.id)
    )
    conn.execute(
        _INSERT_FROM_DRAFTS,
        {"site": site_id, "space": space.id, "config": ts_config, "model": space.model, "ids": ids},
    )
    conn.execute("DELETE FROM chunk_drafts WHERE document_id = ANY(%s)", (ids,))
    conn.execute(
        "UPDATE documents SET indexed_hash = content_hash, indexed_at = now() WHERE id = ANY(%s)",
        (ids,),
    )
    return locked


def _require_vectors(conn: psycopg.Connection, ids: list[int], space: EmbeddingSpace) -> None:
    """Raise ValueError unless every draft of the documents has a vector of the space's width."""
    row = conn.execute(
        _VECTOR_PROBLEMS, {"model": space.model, "dimension": space.dimension, "ids": ids}
    ).fetchone()
    missing, width = row if row else (0, None)
    if missing:
        raise ValueError(f"{missing} chunk(s) have no vector from {space.model} in the cache")
    if width is not None:
        raise ValueError(
            f"embedder returned {width} dimensions; the index space "
            f"{space.model} has {space.dimension}"
        )


def documents_with_chunks(
    conn: psycopg.Connection, ids: Sequence[int], space: EmbeddingSpace
) -> set[int]:
    """Which of the documents have live chunks in the space."""
    rows = conn.execute(
        "SELECT DISTINCT document_id FROM chunks WHERE document_id = ANY(%s) AND space_id = %s",
        (list(ids), space.id),
    )
    return {r[0] for r in rows}


def chunk_count(conn: psycopg.Connection, ids: Iterable[int], space: EmbeddingSpace) -> int:
    """How many live chunks the documents have in the space."""
    row = conn.execute(
        "SELECT count(*) FROM chunks WHERE document_id = ANY(%s) AND space_id = %s",
        (list(ids), space.id),
    ).fetchone()
    return row[0] if row else 0


def live_sample(
    conn: psycopg.Connection, site_id: str, space_id: int, limit: int
) -> tuple[int, list[tuple[str, list[str], int]]]:
    """A site's live chunk count and a few of its chunks (title, heading path, tokens), taken
    from its fixed random sample so the preview is typical, not the first document."""
    count = conn.execute(
        "SELECT chunks FROM text_stats WHERE site_id = %s AND space_id = %s", (site_id, space_id)
    ).fetchone()
    rows = conn.execute(
        "SELECT title, heading_path, token_count FROM chunks "
        "WHERE site_id = %s AND space_id = %s ORDER BY sample_key LIMIT %s",
        (site_id, space_id, limit),
    ).fetchall()
    return (count[0] if count else 0), [(r[0], list(r[1]), r[2]) for r in rows]
