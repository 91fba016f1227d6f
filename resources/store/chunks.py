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
from psycopg import sql

from pressrag.resources.store.documents import lock_unchanged
from pressrag.resources.store.spaces import EmbeddingSpace

# Chunks go in with one statement per `ROWS_PER_STATEMENT` rows, so the search statistics'
# triggers (migration 0003) run once per statement rather than once per chunk.
_INSERT_CHUNKS = """
INSERT INTO chunks (document_id, site_id, space_id, ordinal, document_chunks, title,
                    heading_path, text, token_count, content_hash, embedding, tsv)
VALUES {rows}
"""
# 17 parameters a row: well below PostgreSQL's 65,535 per statement for a very long document.
ROWS_PER_STATEMENT = 1000
_CHUNK_ROW = """(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        setweight(to_tsvector(%s::regconfig, %s), 'A')
        || setweight(to_tsvector(%s::regconfig, %s), 'B')
        || to_tsvector(%s::regconfig, %s))"""


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


def store_vectors(conn: psycopg.Connection, model: str, vectors: dict[str, np.ndarray]) -> None:
    if not vectors:
        return
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO embedding_cache (model, content_hash, embedding) VALUES (%s, %s, %s) "
            "ON CONFLICT (model, content_hash) DO UPDATE SET embedding = EXCLUDED.embedding",
            [(model, h, v) for h, v in vectors.items()],
        )


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
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        _insert_chunks(
            conn, site_id, space, ts_config, rows[start : start + ROWS_PER_STATEMENT], vectors
        )
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
    """Insert (document id, title, the document's chunk count, draft) rows as live chunks,
    in one statement."""
    params: list[object] = []
    for document_id, title, document_chunks, d in rows:
        vector = vectors[d["content_hash"]]
        if vector.shape[-1] != space.dimension:
            raise ValueError(
                f"embedder returned {vector.shape[-1]} dimensions; the index space "
                f"{space.model} has {space.dimension}"
            )
        params += [
            document_id,
            site_id,
            space.id,
            d["ordinal"],
            document_chunks,
            title,
            d["heading_path"],
            d["text"],
            d["token_count"],
            d["content_hash"],
            vector,
            ts_config,
            title,
            ts_config,
            " ".join(d["heading_path"]),
            ts_config,
            d["text"],
        ]
    values = sql.SQL(", ").join([sql.SQL(_CHUNK_ROW)] * len(rows))
    conn.execute(sql.SQL(_INSERT_CHUNKS).format(rows=values), params)


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
