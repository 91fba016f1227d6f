"""Embedding spaces: which model and dimension the vectors were made with (invariant 5)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql

from pressrag.resources.errors import ConfigError


@dataclass(frozen=True)
class EmbeddingSpace:
    id: int
    model: str
    dimension: int
    state: str

    @property
    def vector_type(self) -> sql.Composable:
        """`vector(N)` for casts; N comes from our own table, never from a request."""
        return sql.SQL("vector({})").format(sql.Literal(self.dimension))

    @property
    def index_type(self) -> sql.Composable:
        """`halfvec(N)`, what the HNSW graph holds: half-precision copies halve the index and
        build it ~15–30 % faster (docs/performance.md). Similarities are still computed from the
        full vectors; only which chunks the graph offers as nearest can differ."""
        return sql.SQL("halfvec({})").format(sql.Literal(self.dimension))


def active_space(conn: psycopg.Connection) -> EmbeddingSpace | None:
    row = conn.execute(
        "SELECT id, model, dimension, state FROM embedding_spaces WHERE state = 'active'"
    ).fetchone()
    return EmbeddingSpace(*row) if row else None


def ensure_space(
    conn: psycopg.Connection, model: str, dimension: int, *, allow_new_model: bool = False
) -> EmbeddingSpace:
    """The space for (model, dimension), created and activated if the index is empty.

    A configured model that differs from the active one is refused with a clear message
    unless `allow_new_model` (a deliberate rebuild): mixing vectors is never an option.
    """
    current = active_space(conn)
    if current and (current.model, current.dimension) == (model, dimension):
        return current
    if current and not allow_new_model:
        raise ConfigError(
            f"the index was built with {current.model} ({current.dimension} dimensions) but "
            f"the configured embedder is {model} ({dimension} dimensions). Set the embedder "
            "back to the index's model: vectors of two models are never mixed (building a "
            "second index beside the first and switching is not available yet)."
        )
    row = conn.execute(
        """INSERT INTO embedding_spaces (model, dimension, state)
           VALUES (%s, %s, %s)
           ON CONFLICT (model, dimension) DO UPDATE SET model = EXCLUDED.model
           RETURNING id, model, dimension, state""",
        (model, dimension, "building" if current else "active"),
    ).fetchone()
    assert row is not None
    space = EmbeddingSpace(*row)
    if current is None and space.state != "active":
        conn.execute(
            "UPDATE embedding_spaces SET state = 'active', activated_at = now() WHERE id = %s",
            (space.id,),
        )
        space = EmbeddingSpace(space.id, model, dimension, "active")
    ensure_hnsw_index(conn, space)
    return space


def ensure_hnsw_index(conn: psycopg.Connection, space: EmbeddingSpace) -> None:
    """A partial HNSW index per space: fixed dimension through a cast, cosine distance.

    Also what heals one: a run that died during a bulk load (below) left the space without
    its index, an interrupted concurrent build left it invalid (searches then scan exactly).
    While a bulk load holds the space, it is left to that load. The index of releases before
    the halfvec one is dropped."""
    state = hnsw_index_state(conn, space)
    legacy = _index_validity(conn, _legacy_index_name(space)) is not None
    if state == "valid" and not legacy:
        return
    held = conn.execute(
        "SELECT pg_try_advisory_xact_lock_shared(%s, %s)", (BULK_LOAD_LOCK, space.id)
    ).fetchone()
    if not (held and held[0]):
        return
    if state == "invalid":
        conn.execute(sql.SQL("DROP INDEX {}").format(hnsw_index_name(space)))
    if state != "valid":
        conn.execute(_create_hnsw_index(space, concurrently=False))
    if legacy:
        _drop_legacy_index(conn, space)


def _drop_legacy_index(conn: psycopg.Connection, space: EmbeddingSpace) -> None:
    """Waits at most 5 s for its lock: while a plain DROP INDEX waits (behind another
    site's publishing transaction, say), every search of `chunks` waits behind it. Not
    dropped now, it is tried again by the next run."""
    with suppress(psycopg.errors.LockNotAvailable), conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '5s'")
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(_legacy_index_name(space))))
        conn.execute("SET LOCAL lock_timeout = DEFAULT")


IndexState = Literal["valid", "invalid", "missing"]
# Advisory-lock class of "a bulk load is (re)building this space's HNSW index".
BULK_LOAD_LOCK = 7_413
# pgvector's graph must fit in maintenance_work_mem or the build slows down several times:
# ~1.5× the vectors' bytes. Capped: past it the build is slower, never failing.
GRAPH_BYTES_PER_DIMENSION = 6
MAX_BUILD_MEMORY_MB = 2048


def _index_name(space: EmbeddingSpace) -> str:
    return f"chunks_hnsw_halfvec_space_{space.id}"


def _legacy_index_name(space: EmbeddingSpace) -> str:
    """The full-precision index of releases before the halfvec one: no search uses it, and
    every insert would still pay for it, so the first index run after an upgrade drops it."""
    return f"chunks_hnsw_space_{space.id}"


def hnsw_index_name(space: EmbeddingSpace) -> sql.Identifier:
    return sql.Identifier(_index_name(space))


def hnsw_index_state(conn: psycopg.Connection, space: EmbeddingSpace) -> IndexState:
    """Whether the space's index is there and usable; "invalid" is an interrupted concurrent
    build or drop, which searches never use."""
    valid = _index_validity(conn, _index_name(space))
    if valid is None:
        return "missing"
    return "valid" if valid else "invalid"


def _index_validity(conn: psycopg.Connection, index: str) -> bool | None:
    """None when there is no such index; else whether it is valid."""
    row = conn.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
        (index,),
    ).fetchone()
    return None if row is None else row[0]


def _create_hnsw_index(space: EmbeddingSpace, *, concurrently: bool) -> sql.Composed:
    return sql.SQL(
        "CREATE INDEX {how} IF NOT EXISTS {name} ON chunks USING hnsw "
        "((embedding::{itype}) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64) "
        "WHERE space_id = {space}"
    ).format(
        how=sql.SQL("CONCURRENTLY" if concurrently else ""),
        name=hnsw_index_name(space),
        itype=space.index_type,
        space=sql.Literal(space.id),
    )


def space_rows_below(conn: psycopg.Connection, space: EmbeddingSpace, limit: int) -> bool:
    """Whether the space holds fewer than `limit` chunks (counting stops at `limit`)."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM chunks WHERE space_id = %s LIMIT %s) AS s",
        (space.id, limit),
    ).fetchone()
    return row is not None and row[0] < limit


@contextmanager
def bulk_hnsw_load(conninfo: str, space: EmbeddingSpace, expected_rows: int) -> Iterator[bool]:
    """Take the space's HNSW index away while a large load inserts its chunks, and build it
    once afterwards, concurrently (searches and other sites' writes go on; meanwhile searches
    of this space scan exactly, which the (site, space) index keeps to the searched site's
    rows).

    Yields False, changing nothing, when another bulk load or an index check holds the
    space, or when dropping the index would wait on other transactions for over 10 s. The
    index is built again even when the load fails; if this process dies first, the next
    `ensure_hnsw_index` builds it."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")
        held = conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (BULK_LOAD_LOCK, space.id)
        ).fetchone()
        if not (held and held[0]):
            yield False
            return
        try:
            for index in (_legacy_index_name(space), _index_name(space)):
                conn.execute(
                    sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(index))
                )
        except psycopg.errors.LockNotAvailable:
            # Stopped before it marked the index invalid: nothing changed, insert into it.
            if hnsw_index_state(conn, space) == "valid":
                yield False
                return
        try:
            yield True
        finally:
            conn.execute("SET lock_timeout = 0")
            if hnsw_index_state(conn, space) == "invalid":  # the drop above stopped midway
                conn.execute(sql.SQL("DROP INDEX CONCURRENTLY {}").format(hnsw_index_name(space)))
            # The loaded rows' statistics come after the build, from `publish`'s
            # `analyze_stale` (resources/store/statistics.py), with the other searched tables.
            _size_build_memory(conn, space, expected_rows)
            conn.execute(_create_hnsw_index(space, concurrently=True))


def _size_build_memory(conn: psycopg.Connection, space: EmbeddingSpace, rows: int) -> None:
    need_mb = rows * space.dimension * GRAPH_BYTES_PER_DIMENSION // 2**20 + 64
    row = conn.execute(
        "SELECT setting::bigint / 1024 FROM pg_settings WHERE name = 'maintenance_work_mem'"
    ).fetchone()
    current_mb = row[0] if row else 0
    if need_mb > current_mb:
        conn.execute(f"SET maintenance_work_mem = '{min(need_mb, MAX_BUILD_MEMORY_MB)}MB'")


def activate_space(conn: psycopg.Connection, space_id: int) -> None:
    """Switch readers to a fully built space and retire the old one, in one transaction."""
    conn.execute(
        "UPDATE embedding_spaces SET state = 'retired' WHERE state = 'active' AND id <> %s",
        (space_id,),
    )
    conn.execute(
        "UPDATE embedding_spaces SET state = 'active', activated_at = now() WHERE id = %s",
        (space_id,),
    )
