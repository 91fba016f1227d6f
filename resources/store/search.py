"""Hybrid retrieval (vector + full text, reciprocal-rank fusion), scoped to one site in SQL."""

from __future__ import annotations

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
# VECTOR_POOL. Ranking every partial match of a question cost ~1 s at 100k chunks.
VECTOR_POOL = 100
MATCH_CAP = 2000


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
    ef_search: int = 100,
    text_weight: float = TEXT_WEIGHT,
) -> list[SearchHit]:
    """Top-k chunks of `site_id` for the query. Runs in its own transaction so the HNSW
    settings stay local to it."""
    chunk_filter, filter_params = _filter_clause(filters)
    query = sql.SQL(_template()).format(
        space=sql.Literal(space.id), vtype=space.vector_type, chunk_filter=chunk_filter
    )
    params = {
        "site": site_id,
        "qvec": np.asarray(query_vector, dtype=np.float32),
        "qtext": query_text,
        "ts_config": ts_config,
        "candidates": max(candidates, k),
        "pool": max(VECTOR_POOL, candidates, k),
        "match_cap": MATCH_CAP,
        "k": k,
        "text_weight": text_weight,
        **filter_params,
    }
    with conn.transaction():
        # Iterative scans keep HNSW returning rows when the site filter is selective.
        conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
        conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        rows = conn.execute(query, params).fetchall()
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
