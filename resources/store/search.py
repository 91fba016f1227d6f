"""Hybrid retrieval (vector + full text, reciprocal-rank fusion), scoped to one site in SQL."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources as package_files

import numpy as np
import psycopg
from psycopg import sql

from resources.models import SearchHit
from resources.store.spaces import EmbeddingSpace

RRF_K = 60  # the constant in 1 / (k + rank); 60 is the value from the original RRF paper
# Full-text ranks count half as much as vector ranks: on the sample site's paraphrased
# known-item queries, equal weights put the right document first 17/24 times, 0.5 18/24,
# while exact-term queries still surface through the text side (see bench/ and docs).
TEXT_WEIGHT = 0.5
# The full-text side ranks chunks holding every query word (capped, for one-word queries that
# match half the site), then chunks holding some of the words among the vector side's top
# VECTOR_POOL. Ranking every partial match of a question cost ~1 s at 100k chunks. 60 finds
# the sample's known items as well as 100 did (19/24 first, 22/24 in the top three) and saves
# ~1 ms of PostgreSQL time a search at 100k chunks.
VECTOR_POOL = 60
MATCH_CAP = 2000


DEFAULT_EF_SEARCH = 100


def _session_settings(ef_search: int) -> dict[str, str]:
    """What a search needs from its session. Iterative scans keep HNSW returning rows when
    the site filter is selective. Generic plans: psycopg prepares a statement after five runs,
    and planning this one afresh each time costs ~1.5 ms of a ~6 ms search at 100k chunks."""
    return {
        "hnsw.ef_search": str(ef_search),
        "hnsw.iterative_scan": "relaxed_order",
        "plan_cache_mode": "force_generic_plan",
    }


def _apply_settings(conn: psycopg.Connection, ef_search: int, *, local: bool) -> None:
    """All settings in one statement (one round trip); `local` keeps them to the transaction."""
    settings = _session_settings(ef_search)
    calls = sql.SQL(", ").join(
        sql.SQL("set_config({}, {}, {})").format(
            sql.Literal(name), sql.Literal(value), sql.Literal(local)
        )
        for name, value in settings.items()
    )
    conn.execute(sql.SQL("SELECT {}").format(calls))


def _search_in_transaction(
    conn: psycopg.Connection, query: sql.Composable, params: dict, ef_search: int
) -> list[tuple]:
    """Settings local to a transaction of our own. Inside the caller's open transaction,
    `transaction()` is only a savepoint and local settings would outlive it, so the caller's
    values are put back afterwards."""
    nested = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    names = list(_session_settings(ef_search))
    previous = None
    if nested:
        reads = sql.SQL(", ").join(
            sql.SQL("current_setting({}, true)").format(sql.Literal(n)) for n in names
        )
        previous = conn.execute(sql.SQL("SELECT {}").format(reads)).fetchone()
    with conn.transaction():
        _apply_settings(conn, ef_search, local=True)
        rows = conn.execute(query, params).fetchall()
    if previous is not None:
        # A setting the caller never had (pgvector not loaded yet) goes back to its default.
        restore = sql.SQL(", ").join(
            sql.SQL(
                "set_config({0}, coalesce({1}, "
                "(SELECT reset_val FROM pg_settings WHERE name = {0})), true)"
            ).format(sql.Literal(n), sql.Literal(v))
            for n, v in zip(names, previous, strict=True)
        )
        conn.execute(sql.SQL("SELECT {}").format(restore))
    return rows


# Connections configured by configure_search_session (weak: the pool owns them).
_search_sessions: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


def configure_search_session(conn: psycopg.Connection) -> None:
    """Make a pooled connection a search session: autocommit, settings applied once, so
    that a search is one statement instead of BEGIN, SET, query, COMMIT."""
    conn.autocommit = True
    _apply_settings(conn, DEFAULT_EF_SEARCH, local=False)
    _search_sessions.add(conn)


@dataclass(frozen=True)
class SearchFilters:
    post_types: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    published_after: datetime | None = None


@cache
def _template() -> str:
    return (package_files.files("resources") / "store" / "search.sql").read_text("utf-8")


def _filter_clause(filters: SearchFilters | None) -> tuple[sql.Composable, dict]:
    """Fixed clauses with bound values only: a request chooses values, never SQL.

    Without filters nothing is added: live chunks only ever belong to public documents
    (invariant 2), and an extra join would keep the planner off the HNSW index. With filters,
    the matching document ids are computed once (an init plan) and checked per chunk.
    """
    if filters is None or not (
        filters.post_types or filters.categories or filters.tags or filters.published_after
    ):
        return sql.SQL(""), {}
    parts: list[sql.Composable] = []
    params: dict = {}
    if filters.post_types:
        parts.append(sql.SQL("AND doc_type = ANY(%(f_types)s)"))
        params["f_types"] = filters.post_types
    if filters.categories:
        parts.append(sql.SQL("AND terms -> 'category' ?| %(f_categories)s::text[]"))
        params["f_categories"] = filters.categories
    if filters.tags:
        parts.append(sql.SQL("AND terms -> 'post_tag' ?| %(f_tags)s::text[]"))
        params["f_tags"] = filters.tags
    if filters.published_after:
        parts.append(sql.SQL("AND published_gmt >= %(f_after)s"))
        params["f_after"] = filters.published_after
    clause = sql.SQL(
        "AND c.document_id = ANY(ARRAY(SELECT id FROM documents WHERE site_id = %(site)s "
        "AND visibility = 'public' {}))"
    ).format(sql.SQL(" ").join(parts))
    return clause, params


def hybrid_search(
    conn: psycopg.Connection,
    *,
    site_id: str,
    space: EmbeddingSpace,
    query_text: str,
    query_vector: np.ndarray,
    k: int = 8,
    candidates: int = 40,
    ts_config: str = "english",
    filters: SearchFilters | None = None,
    ef_search: int = DEFAULT_EF_SEARCH,
    text_weight: float = TEXT_WEIGHT,
) -> list[SearchHit]:
    """Top-k chunks of `site_id` for the query. On a search session (see
    configure_search_session) it is one statement; on any other connection it runs in its
    own transaction so that the settings stay local to it."""
    chunk_filter, filter_params = _filter_clause(filters)
    query = sql.SQL(_template()).format(
        space=sql.Literal(space.id),
        vtype=space.vector_type,
        chunk_filter=chunk_filter,
        candidates=sql.Literal(int(max(candidates, k))),
        pool=sql.Literal(int(max(VECTOR_POOL, candidates, k))),
        match_cap=sql.Literal(MATCH_CAP),
        k=sql.Literal(int(k)),
    )
    params = {
        "site": site_id,
        "qvec": np.asarray(query_vector, dtype=np.float32),
        "qtext": query_text,
        "ts_config": ts_config,
        "text_weight": text_weight,
        **filter_params,
    }
    if conn in _search_sessions and ef_search == DEFAULT_EF_SEARCH:
        rows = conn.execute(query, params).fetchall()
    else:
        rows = _search_in_transaction(conn, query, params, ef_search)
    return [
        SearchHit(
            chunk_id=r[0],
            document_id=r[1],
            wp_id=r[2],
            doc_type=r[3],
            title=r[4],
            url=r[5],
            heading_path=list(r[6]),
            text=r[7],
            score=r[8],
            vector_rank=r[9],
            text_rank=r[10],
            vector_distance=r[11],
        )
        for r in rows
    ]


def reciprocal_rank_fusion(
    rankings: list[list[int]], weights: list[float] | None = None, k: int = RRF_K
) -> list[tuple[int, float]]:
    """Pure weighted RRF over ranked id lists (tests check the SQL's fusion against it)."""
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
