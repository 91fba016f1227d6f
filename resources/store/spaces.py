"""Embedding spaces: which model and dimension the vectors were made with (invariant 5)."""

from __future__ import annotations

from dataclasses import dataclass

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
    """A partial HNSW index per space: fixed dimension through a cast, cosine distance."""
    conn.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {name} ON chunks USING hnsw "
            "((embedding::{vtype}) vector_cosine_ops) WITH (m = 16, ef_construction = 64) "
            "WHERE space_id = {space}"
        ).format(
            name=sql.Identifier(f"chunks_hnsw_space_{space.id}"),
            vtype=space.vector_type,
            space=sql.Literal(space.id),
        )
    )


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
