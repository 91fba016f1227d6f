"""Answers of /v1/ask kept in PostgreSQL (shared by replicas), valid while their sources are.

The key is a SHA-256 of the site, the normalised question, the conversation's earlier turns,
`k` and the answerer that produced it (provider and model). An entry lists the chunks its
answer cites with their content hashes; chunk rows are never changed in place (a document's
edit replaces its chunks, a delete or unpublish removes them), so "every cited chunk is still
there with the same hash" is exactly "the sources are unchanged". That check runs in the same
statement that serves the entry, so an edit invalidates at once, on every replica.

Only answers that cite something are kept (a "not found" would outlive the content that
later answers it), and only from the chain's first provider (a fallback's answer must not
stand in for the primary's once it is back). Bounded: `prune()` keeps the most recently
used `max_entries` and drops entries older than `ttl`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?!.]+$")


def normalise(text: str) -> str:
    """Case, spacing and closing punctuation do not change a question."""
    return _TRAILING.sub("", _SPACES.sub(" ", text).strip().lower())


def cache_key(
    *,
    site_id: str,
    question: str,
    history: Sequence[tuple[str, str]],
    k: int,
    answerer: str,
    filters: dict | None = None,
) -> bytes:
    canonical = json.dumps(
        {
            "site": site_id,
            "question": normalise(question),
            "history": [[normalise(q), normalise(a)] for q, a in history],
            "k": k,
            "filters": filters or {},
            "answerer": answerer,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).digest()


@dataclass(frozen=True)
class CachedAnswer:
    payload: dict
    hits: int


_SERVE = """
UPDATE answer_cache a SET hits = a.hits + 1, last_hit_at = now()
WHERE a.key = %(key)s AND a.site_id = %(site)s
  AND a.created_at > now() - make_interval(secs => %(ttl)s)
  AND NOT EXISTS (
      SELECT 1 FROM unnest(a.chunk_ids, a.chunk_hashes) AS cited(id, hash)
      WHERE NOT EXISTS (
          SELECT 1 FROM chunks c
          WHERE c.id = cited.id AND c.site_id = a.site_id AND c.content_hash = cited.hash))
RETURNING a.answer, a.hits
"""

# The cited chunks' hashes are read when the answer is stored; if one has gone meanwhile
# (an edit published between retrieval and now), nothing is stored.
_STORE = """
INSERT INTO answer_cache AS a (key, site_id, answer, chunk_ids, chunk_hashes)
SELECT %(key)s, %(site)s, %(answer)s, array_agg(c.id ORDER BY c.id),
       array_agg(c.content_hash ORDER BY c.id)
FROM chunks c
WHERE c.id = ANY(%(ids)s) AND c.site_id = %(site)s
HAVING count(*) = cardinality(%(ids)s::bigint[])
ON CONFLICT (key) DO UPDATE SET
    answer = EXCLUDED.answer, chunk_ids = EXCLUDED.chunk_ids,
    chunk_hashes = EXCLUDED.chunk_hashes, created_at = now(), last_hit_at = now(), hits = 0
"""


def serve(
    conn: psycopg.Connection, key: bytes, site_id: str, ttl_seconds: float
) -> CachedAnswer | None:
    row = conn.execute(_SERVE, {"key": key, "site": site_id, "ttl": ttl_seconds}).fetchone()
    return CachedAnswer(row[0], row[1]) if row else None


def store(
    conn: psycopg.Connection,
    key: bytes,
    site_id: str,
    payload: dict,
    cited_chunk_ids: Sequence[int],
) -> bool:
    """Keep an answer citing these chunks; False when one of them is no longer live."""
    ids = sorted(set(cited_chunk_ids))
    if not ids:
        return False
    stored = conn.execute(
        _STORE, {"key": key, "site": site_id, "answer": Jsonb(payload), "ids": ids}
    )
    return stored.rowcount == 1


def prune(conn: psycopg.Connection, *, max_entries: int, ttl_seconds: float) -> int:
    """Drop expired entries and all but the `max_entries` most recently used."""
    expired = conn.execute(
        "DELETE FROM answer_cache WHERE created_at < now() - make_interval(secs => %s)",
        (ttl_seconds,),
    ).rowcount
    surplus = conn.execute(
        "DELETE FROM answer_cache WHERE key IN ("
        "  SELECT key FROM answer_cache ORDER BY last_hit_at DESC OFFSET %s)",
        (max_entries,),
    ).rowcount
    return expired + surplus


def size(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM answer_cache").fetchone()[0]
