"""Live chunks and the embedding cache.

`publish_documents_chunks` (and `publish_document_chunks`, for one) is the only writer of live
chunks: it swaps documents' chunks for a space in the caller's transaction, so a reader sees a
document's old version or its new one, never a mix.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import psycopg

from pressrag.resources.store.bulk import copy_rows
from pressrag.resources.store.documents import lock_unchanged
from pressrag.resources.store.spaces import EmbeddingSpace

# Chunks are staged with a binary COPY in a temporary table of the session, then moved into
# `chunks` by one INSERT … SELECT: the search statistics' triggers (migration 0003) run once per
# call, and the statement is small and the same every time. A multi-row VALUES statement (17
# parameters a row) cost ~0.13 ms of client CPU a row to compose, and PostgreSQL parsed and
# planned each 1,000-row statement afresh. The stage is emptied by the statement that reads it.
_STAGE_CHUNKS = """
CREATE TEMPORARY TABLE IF NOT EXISTS staged_chunks (
    document_id bigint, ordinal int, document_chunks int, title text, heading_path text[],
    headings text, text text, token_count int, content_hash text, embedding vector
)
"""
_STAGED_TYPES = ["int8", "int4", "int4", "text", "text[]", "text", "text", "int4", "text", "vector"]
_COPY_STAGED = "COPY pg_temp.staged_chunks FROM STDIN (FORMAT BINARY)"
_INSERT_STAGED = """
WITH staged AS (DELETE FROM pg_temp.staged_chunks RETURNING *)
INSERT INTO chunks (document_id, site_id, space_id, ordinal, document_chunks, title,
                    heading_path, text, token_count, content_hash, embedding, tsv)
SELECT document_id, %(site)s, %(space)s, ordinal, document_chunks, title, heading_path, text,
       token_count, content_hash, embedding,
       setweight(to_tsvector(%(config)s::regconfig, title), 'A')
       || setweight(to_tsvector(%(config)s::regconfig, headings), 'B')
       || to_tsvector(%(config)s::regconfig, text)
FROM staged
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


def publish_document_chunks(
    conn: psycopg.Connection,
    *,
    site_id: str,
    document_id: int,
    content_hash: str,
    title: str,
    space: EmbeddingSpace,
    ts_config: str,
    drafts: Sequence[dict],
    vectors: dict[str, np.ndarray],
) -> bool:
    """Replace the document's live chunks with `drafts` + vectors (caller commits).

    Returns False, writing nothing, when the document changed since the drafts were made.
    """
    published = publish_documents_chunks(
        conn,
        site_id=site_id,
        documents=[DocumentChunks(document_id, content_hash, title, drafts)],
        space=space,
        ts_config=ts_config,
        vectors=vectors,
    )
    return document_id in published


@dataclass(frozen=True)
class DocumentChunks:
    """One document's chunk drafts to publish, for the content version they were made from."""

    document_id: int
    content_hash: str
    title: str
    drafts: Sequence[dict]


def publish_documents_chunks(
    conn: psycopg.Connection,
    *,
    site_id: str,
    documents: Sequence[DocumentChunks],
    space: EmbeddingSpace,
    ts_config: str,
    vectors: dict[str, np.ndarray],
) -> set[int]:
    """Replace several documents' live chunks at once (caller commits); the ids published.

    A document that changed since its drafts were made is skipped, writing nothing. Each
    statement covers all the documents, so the search statistics' triggers run once per
    statement instead of once per document: per document, every common lexeme's `lexicon`
    row was updated again in the same transaction, and each update had to step over all
    the row's earlier versions (~0.2 s per document after a few hundred, on 2 cores).
    """
    if not documents:
        return set()
    locked = lock_unchanged(
        conn,
        [(d.document_id, d.content_hash) for d in documents],
        where="d.chunked_hash = d.content_hash AND d.visibility = 'public'",
    )
    if not locked:
        return set()
    ids = sorted(locked)
    conn.execute(
        "DELETE FROM chunks WHERE document_id = ANY(%s) AND space_id = %s", (ids, space.id)
    )
    # Every chunk carries its document's chunk count (migration 0015): search reads it from
    # the row instead of probing an index per candidate.
    rows = [
        (doc.document_id, doc.title, len(doc.drafts), draft)
        for doc in documents
        if doc.document_id in locked
        for draft in doc.drafts
    ]
    _insert_chunks(conn, site_id, space, ts_config, rows, vectors)
    conn.execute("DELETE FROM chunk_drafts WHERE document_id = ANY(%s)", (ids,))
    conn.execute(
        "UPDATE documents SET indexed_hash = content_hash, indexed_at = now() WHERE id = ANY(%s)",
        (ids,),
    )
    return locked


def _insert_chunks(
    conn: psycopg.Connection,
    site_id: str,
    space: EmbeddingSpace,
    ts_config: str,
    rows: Sequence[tuple[int, str, int, dict]],
    vectors: dict[str, np.ndarray],
) -> None:
    """Insert (document id, title, the document's chunk count, draft) rows as live chunks:
    one COPY into the stage, one statement from it."""
    for *_, d in rows:  # checked before anything is sent
        width = vectors[d["content_hash"]].shape[-1]
        if width != space.dimension:
            raise ValueError(
                f"embedder returned {width} dimensions; the index space "
                f"{space.model} has {space.dimension}"
            )
    staged = (
        (
            document_id,
            d["ordinal"],
            document_chunks,
            title,
            d["heading_path"],
            " ".join(d["heading_path"]),
            d["text"],
            d["token_count"],
            d["content_hash"],
            vectors[d["content_hash"]],
        )
        for document_id, title, document_chunks, d in rows
    )
    conn.execute(_STAGE_CHUNKS)
    copy_rows(conn, _COPY_STAGED, _STAGED_TYPES, staged)
    conn.execute(_INSERT_STAGED, {"site": site_id, "space": space.id, "config": ts_config})


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
