"""A large load into a space builds the space's HNSW index once after its inserts (issue #11:
inserting into the graph was most of a first index's time), and a lost or half-built index
is built again by the next run, so searches never stay on exact scans. A large shard's HTML
and chunking run on worker processes and make the chunks the step's own process makes.

The threshold is lowered below the small sample's 64 chunks; the module has its own
PostgreSQL, so the space starts empty whatever else ran on this worker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pressrag.resources.cpu_pool import MIN_ITEMS
from pressrag.resources.store import Store
from pressrag.resources.store.spaces import (
    BULK_LOAD_LOCK,
    active_space,
    bulk_hnsw_load,
    ensure_hnsw_index,
    hnsw_index_state,
)
from tests.conftest import PressragEnv, environment, private_pressrag_env
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_wordpress import FakeWordPress
from tests.support.indexing import asset_metadata, copy_small_sample, materialize_site

pytestmark = pytest.mark.integration
FIRST = "bulk-first"
DIMENSION = 384
HNSW_INDEX = "chunks_hnsw_halfvec_space_"  # + the space's id
LEGACY_INDEX = "chunks_hnsw_space_"  # full precision, releases before the halfvec index


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PressragEnv]:
    # The ~0-cost embedder: what is tested is the index, and the local model's threads made
    # each run here ~30 s on a busy CI machine.
    with (
        FakeOpenAI(default_dimension=DIMENSION) as openai,
        private_pressrag_env(tmp_path_factory, "bulk-index-home") as env,
        environment(
            PRESSRAG_BULK_INDEX_MIN_CHUNKS="20",
            PRESSRAG_EMBEDDER="openai",
            PRESSRAG_OPENAI_BASE_URL=openai.base_url,
            PRESSRAG_OPENAI_API_KEY="sk-test-not-a-key",
            PRESSRAG_OPENAI_EMBED_DIMENSIONS=str(DIMENSION),
        ),
    ):
        yield env


@pytest.fixture(scope="module")
def first_load(env: PressragEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The small sample indexed into the empty space: the `embeddings` metadata."""
    from pressrag.orchestration.sites import add_site

    add_site(FIRST, wxr=str(copy_small_sample(tmp_path_factory.mktemp("bulk") / "site")))
    result = materialize_site(FIRST)
    assert result.success
    return asset_metadata(result, "embeddings")


def _index_state(env: PressragEnv) -> str:
    with Store(env.app_url, max_size=1) as store, store.connection() as conn:
        space = active_space(conn)
        assert space is not None
        return hnsw_index_state(conn, space)


def _uses_hnsw(env: PressragEnv) -> bool:
    """Whether the planner can answer a nearest-neighbour query of the space with its index
    (on a few dozen rows it would rather sort them all: that choice is taken away)."""
    with Store(env.app_url, max_size=1) as store, store.connection() as conn:
        space = active_space(conn)
        assert space is not None
        for plan_kind in ("seqscan", "bitmapscan", "sort"):
            conn.execute(f"SET LOCAL enable_{plan_kind} = off")
        plan = conn.execute(
            f"EXPLAIN SELECT id FROM chunks WHERE space_id = {space.id} "
            f"ORDER BY (embedding::halfvec({space.dimension})) <=> "
            f"(SELECT embedding::halfvec({space.dimension}) FROM chunks LIMIT 1) LIMIT 5"
        ).fetchall()
    return any(f"{HNSW_INDEX}{space.id}" in line for (line,) in plan)


def test_a_search_finds_its_vector_pool_through_the_index(
    env: PressragEnv, first_load: dict[str, object]
) -> None:
    """The search statement orders its pool by the index's own expression: otherwise every
    search scans the site's vectors exactly, and nothing else would say so."""
    import numpy as np

    from pressrag.resources.store.search import _evidence_query

    with Store(env.app_url, max_size=1) as store, store.connection() as conn:
        space = active_space(conn)
        assert space is not None
        vector = np.ones(DIMENSION, dtype=np.float32)
        query, params = _evidence_query(FIRST, space, "generators", vector, 5, "english", None)
        for plan_kind in ("seqscan", "bitmapscan", "sort"):  # a few dozen rows: it would sort
            conn.execute(f"SET LOCAL enable_{plan_kind} = off")
        plan = conn.execute("EXPLAIN " + query, params).fetchall()
    assert any(f"Index Scan using {HNSW_INDEX}{space.id}" in line for (line,) in plan), plan


def _search_titles(site: str, query: str) -> list[str]:
    from pressrag.orchestration.run import search

    return [hit.title for hit in search(site, query, k=3)]


def test_a_first_load_builds_the_index_after_its_inserts_and_later_ones_insert(
    env: PressragEnv, first_load: dict[str, object], tmp_path: Path
) -> None:
    from pressrag.orchestration.sites import add_site

    assert first_load["chunks_written"] >= 20
    assert first_load["hnsw_index_built_after_load"] is True
    build_seconds = first_load["hnsw_build_seconds"]
    assert isinstance(build_seconds, float) and build_seconds > 0
    assert _index_state(env) == "valid" and _uses_hnsw(env)
    assert _search_titles(FIRST, "What is a generator expression?")

    # The space now holds as many chunks as the next site brings: inserted into the graph.
    add_site("bulk-second", wxr=str(copy_small_sample(tmp_path / "second")))
    second = materialize_site("bulk-second")
    assert second.success
    meta = asset_metadata(second, "embeddings")
    assert meta["chunks_written"] >= 20 and meta["hnsw_index_built_after_load"] is False
    assert "hnsw_build_seconds" not in meta
    assert _index_state(env) == "valid" and _uses_hnsw(env)


@pytest.mark.parametrize(
    "damage",
    [
        "DROP INDEX {index}",  # the run died between dropping the index and building it
        # a concurrent build was interrupted: the index exists, invalid, and no search uses it
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = '{index}'::regclass",
    ],
    ids=["missing", "invalid"],
)
def test_the_next_run_builds_a_lost_or_half_built_index(
    env: PressragEnv, first_load: dict[str, object], damage: str
) -> None:
    with psycopg.connect(env.app_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM embedding_spaces WHERE state = 'active'").fetchone()
        assert row is not None
        conn.execute(damage.format(index=f"{HNSW_INDEX}{row[0]}"))
    assert _index_state(env) != "valid" and not _uses_hnsw(env)

    again = materialize_site(FIRST)  # nothing changed: no chunk to publish
    assert again.success and asset_metadata(again, "embeddings")["documents_indexed"] == 0
    assert _index_state(env) == "valid" and _uses_hnsw(env)


def _legacy_index(conn: psycopg.Connection, space_id: int) -> None:
    """The index an earlier release built: full-precision vectors, under its old name."""
    conn.execute(
        f"CREATE INDEX {LEGACY_INDEX}{space_id} ON chunks USING hnsw "
        f"((embedding::vector({DIMENSION})) vector_cosine_ops) WHERE space_id = {space_id}"
    )


def _has_legacy_index(conn: psycopg.Connection, space_id: int) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{LEGACY_INDEX}{space_id}",))
    return row.fetchone() == (True,)


def test_an_upgrade_replaces_the_full_precision_index(
    env: PressragEnv, first_load: dict[str, object]
) -> None:
    """The first run after the upgrade builds the halfvec index and drops the old one, which
    searches no longer use and every insert would still pay for; a bulk load drops it too."""
    with psycopg.connect(env.app_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM embedding_spaces WHERE state = 'active'").fetchone()
        assert row is not None
        space_id = row[0]
        conn.execute(f"DROP INDEX {HNSW_INDEX}{space_id}")
        _legacy_index(conn, space_id)
    assert _index_state(env) == "missing" and not _uses_hnsw(env)

    again = materialize_site(FIRST)
    assert again.success
    assert _index_state(env) == "valid" and _uses_hnsw(env)
    with psycopg.connect(env.app_url, autocommit=True) as conn:
        assert not _has_legacy_index(conn, space_id)
        _legacy_index(conn, space_id)
    with Store(env.app_url, max_size=1) as store, store.connection() as conn:
        space = active_space(conn)
    assert space is not None
    with bulk_hnsw_load(env.app_url, space, 1000) as taken:
        assert taken is True
        with psycopg.connect(env.app_url, autocommit=True) as conn:
            assert not _has_legacy_index(conn, space_id)
    assert _index_state(env) == "valid" and _uses_hnsw(env)


def test_the_old_index_waits_while_dropping_it_would_hold_searches(
    env: PressragEnv, first_load: dict[str, object]
) -> None:
    """Its DROP INDEX would queue every search behind whatever holds `chunks`: it is left
    for a later run while a bulk load holds the space or a transaction holds the table."""
    with Store(env.app_url, max_size=1) as store, store.connection() as conn:
        space = active_space(conn)
    assert space is not None
    with psycopg.connect(env.app_url, autocommit=True) as conn:
        _legacy_index(conn, space.id)
    with psycopg.connect(env.app_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (BULK_LOAD_LOCK, space.id))
        with psycopg.connect(env.app_url) as conn:
            ensure_hnsw_index(conn, space)
            assert _has_legacy_index(conn, space.id)
    with psycopg.connect(env.app_url) as reader:
        reader.execute("SELECT count(*) FROM chunks")  # its transaction holds the table
        with psycopg.connect(env.app_url) as conn:
            started = time.monotonic()
            ensure_hnsw_index(conn, space)
            assert 4 < time.monotonic() - started < 30
            assert _has_legacy_index(conn, space.id)
            conn.execute("SELECT 1")  # the transaction goes on after the refused drop
    with psycopg.connect(env.app_url) as conn:  # nothing in the way: dropped
        ensure_hnsw_index(conn, space)
        assert not _has_legacy_index(conn, space.id)


def test_a_space_held_by_another_bulk_load_is_left_to_it(
    env: PressragEnv, first_load: dict[str, object]
) -> None:
    """Two loads never take the same index away; the second inserts into it as usual."""
    with Store(env.app_url, max_size=1) as store, store.connection() as conn:
        space = active_space(conn)
        assert space is not None
    with psycopg.connect(env.app_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (BULK_LOAD_LOCK, space.id))
        with bulk_hnsw_load(env.app_url, space, 1000) as taken:
            assert taken is False
            assert _index_state(env) == "valid"
    with bulk_hnsw_load(env.app_url, space, 1000) as taken:  # free again: taken away...
        assert taken is True
        assert _index_state(env) == "missing"
    assert _index_state(env) == "valid"  # ...and built once the load is done


def _posts(count: int) -> list[dict[str, str]]:
    """Posts of different shapes and lengths: headings, lists, code, long and short."""
    posts = []
    for n in range(count):
        paragraphs = "".join(
            f"<p>Note {p} on tide table {n}: the {'spring ' * (n % 5)}tide rises "
            f"{'and the harbour wall stays dry ' * (n % 23)}at dawn.</p>"
            for p in range(n % 11 + 1)
        )
        extra = f"<ul><li>buoy {n}</li><li>pier {n}</li></ul>" if n % 3 == 0 else ""
        code = f"<pre><code># not a heading {n}\nprint({n})</code></pre>" if n % 4 == 0 else ""
        posts.append(
            {
                "title": f"Tide table {n}",
                "content": f"<h2>Harbour {n}</h2>{paragraphs}{extra}<h3>Charts</h3>{code}",
            }
        )
    return posts


def _chunks(site: str) -> list[tuple]:
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as conn:
        return conn.execute(
            "SELECT d.wp_id, c.ordinal, c.heading_path, c.text, c.token_count, "
            "c.content_hash FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.site_id = %s ORDER BY d.wp_id, c.ordinal",
            (site,),
        ).fetchall()


def test_a_large_shard_is_extracted_and_chunked_on_workers_as_in_process(
    env: PressragEnv, first_load: dict[str, object]
) -> None:
    from pressrag.orchestration.sites import add_site

    count = MIN_ITEMS + 40
    with FakeWordPress() as wordpress:
        for post in _posts(count):
            wordpress.upsert(post)
        with environment(PRESSRAG_INDEX_PROCESSES="2"):
            add_site("pool-workers", url=wordpress.base_url)
            on_workers = materialize_site("pool-workers")
        with environment(PRESSRAG_INDEX_PROCESSES="1"):
            add_site("pool-here", url=wordpress.base_url)
            here = materialize_site("pool-here")
    assert on_workers.success and here.success
    for stage in ("extracted_text", "chunks"):
        assert asset_metadata(on_workers, stage)["documents_on_workers"] == count
        assert asset_metadata(here, stage)["documents_on_workers"] == 0
    made = _chunks("pool-workers")
    assert len(made) > count  # the long posts made several chunks
    assert made == _chunks("pool-here")
