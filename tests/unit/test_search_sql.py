"""The evidence statement is composed once per shape of search and reused: a reused statement
must still be the one that search asked for (its filters, its vector side, its space)."""

from datetime import UTC, datetime

import numpy as np

from pressrag.resources.store.search import SearchFilters, _evidence_query
from pressrag.resources.store.spaces import EmbeddingSpace

SPACE = EmbeddingSpace(7, "model", 4, "active")
VECTOR = np.ones(4, dtype=np.float32)


def evidence(
    filters: SearchFilters | None,
    vector: np.ndarray | None = VECTOR,
    space: EmbeddingSpace = SPACE,
) -> tuple[str, dict]:
    return _evidence_query("demo", space, "sort a list", vector, 8, "english", filters)


def test_a_reused_statement_carries_only_its_own_filters() -> None:
    after = datetime(2024, 1, 1, tzinfo=UTC)
    filtered, params = evidence(SearchFilters(post_types=["post"], published_after=after))
    plain, plain_params = evidence(None)
    assert "doc_type = ANY(%(f_types)s)" in filtered and "published_gmt >=" in filtered
    assert "%(f_tags)s" not in filtered
    assert params["f_types"] == ["post"] and params["f_after"] == after
    assert "FROM documents WHERE site_id" not in plain
    assert not {"f_types", "f_after"} & plain_params.keys()
    # Empty filters are no filters: the same statement as none at all.
    assert evidence(SearchFilters(tags=[]))[0] == plain
    assert evidence(SearchFilters(tags=["a"]))[0] != filtered


def test_the_keyword_only_statement_has_no_vector_side() -> None:
    with_vector, params = evidence(None)
    keyword_only, keyword_params = evidence(None, None)
    assert "%(qvec)b" in with_vector and "qvec" in params
    assert "%(qvec)b" not in keyword_only and "qvec" not in keyword_params


def test_the_space_is_written_into_the_statement() -> None:
    other = EmbeddingSpace(8, "model", 4, "active")
    assert "c.space_id = 7" in evidence(None)[0]
    assert "c.space_id = 8" in evidence(None, space=other)[0]
    assert "c.space_id = 7" not in evidence(None, space=other)[0]


def test_the_statement_is_short_enough_for_psycopgs_parse_cache() -> None:
    """psycopg caches a statement's placeholder parsing only up to a length; past it, the
    statement was parsed again on every search. Comments are not sent."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    query = evidence(None, space=EmbeddingSpace(7, "model", 1536, "active"))[0]
    assert len(query.encode()) <= MAX_CACHED_STATEMENT_LENGTH
    assert "--" not in query
