"""The store on the real embedded Postgres: migrations, embedding spaces, fusion, scoping."""

from __future__ import annotations

import os
import threading
import uuid
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pytest

from resources.errors import ConfigError
from resources.store import Store
from resources.store.migrations import apply_migrations, available_migrations
from resources.store.search import SearchFilters, hybrid_search, reciprocal_rank_fusion
from resources.store.spaces import active_space, ensure_space
from tests.conftest import IndexedSites, PressragEnv

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_database(pressrag_env: PressragEnv) -> str:
    """An empty database on the embedded server, for tests that need a clean schema."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pressrag_env.app_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(pressrag_env.app_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def test_concurrent_starters_apply_each_migration_once(fresh_database: str) -> None:
    """Four processes' worth of start-ups at once: no error, every migration recorded once."""
    errors: list[BaseException] = []
    applied: list[list[str]] = []

    def start() -> None:
        try:
            applied.append(apply_migrations(fresh_database))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    names = [name for _, name, _ in available_migrations()]
    assert sorted(n for batch in applied for n in batch) == sorted(names)
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute("SELECT version, count(*) FROM schema_migrations GROUP BY 1").fetchall()
    assert all(count == 1 for _, count in rows) and len(rows) == len(names)


def test_a_different_model_is_refused_with_a_clear_message(fresh_database: str) -> None:
    with Store(fresh_database, max_size=1) as store, store.connection() as conn:
        space = ensure_space(conn, "local:mini", 384)
        assert space.state == "active"
        with pytest.raises(ConfigError) as caught:
            ensure_space(conn, "openai:text-embedding-3-small:1536", 1536)
        assert "local:mini (384 dimensions)" in str(caught.value)
        assert "text-embedding-3-small" in str(caught.value)
        assert active_space(conn) == space  # nothing was switched


def _query(site: str, text: str, filters: SearchFilters | None = None, k: int = 10):
    from resources.embedders.local import LocalEmbedder

    vector = LocalEmbedder().embed([text])[0]
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        space = active_space(c)
        assert space is not None
        return hybrid_search(
            c,
            site_id=site,
            space=space,
            query_text=text,
            query_vector=vector,
            k=k,
            filters=filters,
        )


def test_sql_fusion_matches_weighted_rrf(indexed_sites: IndexedSites) -> None:
    """The SQL's scores and order equal the pure weighted RRF over the ranks it reports."""
    hits = _query("demo", "reading and writing files with a context manager", k=30)

    def ranking(rank_of: dict[int, int]) -> list[int]:
        # Place each returned chunk at its reported rank; unreturned candidates get fillers.
        size = max(rank_of.values(), default=0)
        slots = [-(i + 1) for i in range(size)]
        for chunk_id, rank in rank_of.items():
            slots[rank - 1] = chunk_id
        return slots

    vector = ranking({h.chunk_id: h.vector_rank for h in hits if h.vector_rank})
    text = ranking({h.chunk_id: h.text_rank for h in hits if h.text_rank})
    expected = dict(reciprocal_rank_fusion([vector, text], [1.0, 0.5]))
    assert any(h.vector_rank and h.text_rank for h in hits)  # both sides contributed
    for hit in hits:
        assert hit.score == pytest.approx(expected[hit.chunk_id], rel=1e-9)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize(
    "filters",
    [None, SearchFilters(post_types=["post", "page"]), SearchFilters(categories=["Tutorial"])],
)
def test_search_never_leaves_the_site(indexed_sites: IndexedSites, filters) -> None:
    """Site scoping is in SQL: with or without filters, only the asked site's chunks return."""
    hits = _query("other", "python virtual environments and modules", filters, k=20)
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        sites = {
            r[0]
            for r in c.execute(
                "SELECT DISTINCT site_id FROM chunks WHERE id = ANY(%s)",
                ([h.chunk_id for h in hits],),
            )
        }
    assert sites <= {"other"}


def test_filters_narrow_results(indexed_sites: IndexedSites) -> None:
    pages = _query("demo", "python", SearchFilters(post_types=["page"]), k=20)
    assert pages and all(h.doc_type == "page" for h in pages)
    none = _query("demo", "python", SearchFilters(post_types=["no-such-type"]), k=20)
    assert none == []


def test_vectors_round_trip_as_arrays(indexed_sites: IndexedSites) -> None:
    from resources.store.chunks import as_array

    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        (value,) = c.execute("SELECT embedding FROM chunks LIMIT 1").fetchone()
    vector = as_array(value)
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-3


SESSION_CASES = [
    ("demo", "reading and writing files with a context manager", None),
    ("demo", "python", SearchFilters(post_types=["page"])),
    ("demo", "python", SearchFilters(post_types=["no-such-type"])),
    ("other", "python virtual environments and modules", None),  # the small site
]


@pytest.mark.parametrize(
    ("site", "text", "filters"), SESSION_CASES, ids=["plain", "filtered", "empty", "small-site"]
)
def test_a_search_session_returns_what_a_transaction_returns(
    indexed_sites: IndexedSites, site: str, text: str, filters: SearchFilters | None
) -> None:
    """Serving's search sessions (autocommit, settings applied once, prepared statements on
    generic plans) must be a pure speed-up: the same hits as the transaction path, also after
    psycopg has prepared the statement (five runs) and PostgreSQL plans it generically."""
    from resources.embedders.local import LocalEmbedder

    vector = LocalEmbedder().embed([text])[0]

    def search(conn: psycopg.Connection, space) -> list[tuple[int, float]]:
        hits = hybrid_search(
            conn,
            site_id=site,
            space=space,
            query_text=text,
            query_vector=vector,
            k=12,
            filters=filters,
        )
        return [(h.chunk_id, round(h.score, 12)) for h in hits]

    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store:
        with store.connection() as conn:
            space = active_space(conn)
            expected = search(conn, space)
            # The transaction path kept its settings to itself.
            assert conn.execute("SHOW plan_cache_mode").fetchone()[0] == "auto"
            assert conn.execute("SHOW hnsw.ef_search").fetchone()[0] == "40"
        with store.search_connection() as conn:
            assert conn.autocommit
            runs = [search(conn, space) for _ in range(7)]
            assert conn.execute("SHOW plan_cache_mode").fetchone()[0] == "force_generic_plan"
    assert all(run == expected for run in runs)
    if filters is None or filters.post_types != ["no-such-type"]:
        assert expected
