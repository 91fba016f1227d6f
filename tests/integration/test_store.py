"""The store on the real embedded Postgres: migrations, embedding spaces, search, scoping."""

from __future__ import annotations

import os
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import psycopg
import pytest

from pressrag.resources.errors import ConfigError
from pressrag.resources.store import Store
from pressrag.resources.store.migrations import apply_migrations, available_migrations
from pressrag.resources.store.search import SearchFilters, hybrid_search
from pressrag.resources.store.spaces import active_space, ensure_space
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


COUNTS = """SELECT document_id, space_id, document_chunks, count(*) OVER w, ordinal
             FROM chunks WINDOW w AS (PARTITION BY document_id, space_id)
             ORDER BY document_id, space_id, ordinal"""


def test_each_chunk_carries_its_documents_chunk_count(fresh_database: str) -> None:
    """Search scores a document by its chunk count, read from each chunk's row: migration 0015
    only adds the column (existing rows, and the text statistics, untouched), every publish
    writes the new count, also when a document is published again with fewer chunks, and
    chunks written without it (before the migration, or by the previous release during a
    rollout) still get theirs in search."""
    from pressrag.resources.models import ChunkDraft
    from pressrag.resources.store.chunks import publish_documents_chunks, store_vectors
    from pressrag.resources.store.documents import save_many_drafts
    from pressrag.resources.store.search import gather_evidence

    def insert_without_count(conn: psycopg.Connection, doc: int, chunks: int) -> None:
        for ordinal in range(chunks):
            conn.execute(
                "INSERT INTO chunks (document_id, site_id, space_id, ordinal, text, "
                "token_count, content_hash, embedding, tsv) VALUES (%s, 's', %s, %s, "
                "'old words', 2, 'c', '[1,0,0]', to_tsvector('english', 'old words'))",
                (doc, space.id, ordinal),
            )

    with psycopg.connect(fresh_database, autocommit=False) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for number, name, migration in available_migrations():
            if number < 15:  # the schema of a site indexed before 0015
                conn.execute(migration)
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (number, name))
        space = ensure_space(conn, "local:test", 3)
        conn.execute(
            "INSERT INTO sites (id, source_kind, base_url) VALUES ('s', 'wxr', 'http://s.test')"
        )
        for doc, chunks in ((1, 3), (2, 1)):
            conn.execute(
                "INSERT INTO documents (id, site_id, wp_id, doc_type, status, visibility, "
                "content_hash, chunked_hash) VALUES (%s, 's', %s, 'post', 'publish', 'public', "
                "'h', 'h')",
                (doc, doc),
            )
            insert_without_count(conn, doc, chunks)
        conn.commit()
        statistics = "SELECT chunks, total_length, version FROM text_stats ORDER BY site_id"
        lexicon = "SELECT lexeme, df FROM lexicon ORDER BY lexeme"
        before = conn.execute(statistics).fetchall(), conn.execute(lexicon).fetchall()

    assert apply_migrations(fresh_database) == ["0015_chunks_document_chunks.sql"]
    with Store(fresh_database, max_size=1) as store, store.connection() as conn:
        assert [r[2] for r in conn.execute(COUNTS)] == [None] * 4
        assert (conn.execute(statistics).fetchall(), conn.execute(lexicon).fetchall()) == before

        drafts = [
            ChunkDraft(
                ordinal=i,
                heading_path=(),
                text=f"new text {i}",
                embed_text=f"new text {i}",
                token_count=3,
            )
            for i in range(2)
        ]
        save_many_drafts(conn, [(1, "h", drafts)])
        store_vectors(
            conn,
            space.model,
            {d.content_hash: np.array([0.0, 1.0, float(d.ordinal)], np.float32) for d in drafts},
        )
        published = publish_documents_chunks(
            conn, site_id="s", documents=[(1, "h")], space=space, ts_config="english"
        )
        assert published == {1}
        # Document 2 was not published again: it keeps no count until it is.
        assert [(r[0], r[2]) for r in conn.execute(COUNTS)] == [(1, 2), (1, 2), (2, None)]

        conn.execute("DELETE FROM documents WHERE id = 1")
        assert [(r[0], r[2]) for r in conn.execute(COUNTS)] == [(2, None)]

        conn.execute("DELETE FROM chunks WHERE document_id = 2")
        insert_without_count(conn, 2, 2)
        evidence, _ = gather_evidence(
            conn,
            site_id="s",
            space=space,
            query_text="old words",
            query_vector=np.array([1.0, 0.0, 0.0], dtype=np.float32),
        )
        assert [(e.document_id, e.document_chunks) for e in evidence] == [(2, 2), (2, 2)]


def _query(site: str, text: str, filters: SearchFilters | None = None, k: int = 10):
    from pressrag.resources.embedders.local import LocalEmbedder

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


def test_sql_evidence_is_what_it_claims(indexed_sites: IndexedSites) -> None:
    """Every candidate's similarity is its cosine, its BM25 is the textbook formula over the
    site's statistics, and its document size is its chunk count."""
    from pressrag.resources.embedders.local import LocalEmbedder
    from pressrag.resources.store.chunks import as_array
    from pressrag.resources.store.search import gather_evidence

    text = "reading and writing files with a context manager"
    vector = LocalEmbedder().embed([text])[0]
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        space = active_space(c)
        evidence, baseline = gather_evidence(
            c, site_id="demo", space=space, query_text=text, query_vector=vector
        )
        n, total = c.execute(
            "SELECT chunks, total_length FROM text_stats WHERE site_id = 'demo'"
        ).fetchone()
        lexemes = [
            r[0]
            for r in c.execute(
                "SELECT unnest(tsvector_to_array(to_tsvector('english', %s)))", (text,)
            )
        ]
        df = dict(
            c.execute(
                "SELECT lexeme, df FROM lexicon WHERE site_id = 'demo' AND lexeme = ANY(%s)",
                (lexemes,),
            ).fetchall()
        )
        assert evidence and any(e.bm25 > 0 for e in evidence)
        for e in evidence:
            emb, length, doc_chunks = c.execute(
                "SELECT embedding, length(tsv), (SELECT count(*) FROM chunks x "
                "WHERE x.document_id = c.document_id) FROM chunks c WHERE id = %s",
                (e.chunk_id,),
            ).fetchone()
            tf = dict(
                c.execute(
                    "SELECT lexeme, cardinality(positions) FROM chunks, unnest(tsv) "
                    "WHERE id = %s AND lexeme = ANY(%s)",
                    (e.chunk_id, lexemes),
                ).fetchall()
            )
            bm25 = sum(
                np.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                * f
                * 2.2
                / (f + 1.2 * (0.25 + 0.75 * length / (total / n)))
                for t, f in tf.items()
            )
            assert e.similarity == pytest.approx(float(as_array(emb) @ vector), abs=1e-4)
            assert e.bm25 == pytest.approx(bm25, rel=1e-9)
            assert e.document_chunks == doc_chunks
    assert 0 < baseline.similarity_spread < 1 and baseline.bm25_spread > 0
    assert_similarity_baseline_is_the_sample("demo")


SAMPLE_STATISTICS = """
    SELECT avg(s.similarity), stddev_pop(s.similarity) FROM (
        SELECT 1 - (c.embedding::vector(384) <=> %(q)s::vector(384)) AS similarity
        FROM chunks c WHERE c.site_id = %(site)s ORDER BY c.sample_key LIMIT 256) s"""


def assert_similarity_baseline_is_the_sample(site: str) -> None:
    """The question's similarity mean and spread (kept per site between searches) are
    those of its cosine to the site's current sample, computed here in SQL."""
    from pressrag.resources.embedders.local import LocalEmbedder
    from pressrag.resources.store.search import gather_evidence

    text = "how do I write a file"
    vector = LocalEmbedder().embed([text])[0]
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        space = active_space(c)
        _, baseline = gather_evidence(
            c, site_id=site, space=space, query_text=text, query_vector=vector
        )
        mean, spread = c.execute(SAMPLE_STATISTICS, {"q": vector, "site": site}).fetchone()
    assert baseline.similarity_mean == pytest.approx(mean, abs=1e-5)
    assert baseline.similarity_spread == pytest.approx(spread, abs=1e-5)


def test_text_statistics_follow_every_write(pressrag_env: PressragEnv) -> None:
    """Publishing, re-publishing, deleting a document and removing a site keep the BM25
    statistics equal to a recount from the live chunks (triggers, cascades included)."""
    from pressrag.orchestration.sites import add_site
    from tests.support.indexing import copy_small_sample, materialize_site, remove_wxr_item

    recount = """
        SELECT coalesce(jsonb_object_agg(lexeme, df ORDER BY lexeme), '{}') FROM (
            SELECT lex AS lexeme, count(*) AS df FROM chunks, unnest(tsvector_to_array(tsv)) lex
            WHERE site_id = %(site)s GROUP BY lex) r"""
    kept = """SELECT coalesce(jsonb_object_agg(lexeme, df ORDER BY lexeme), '{}')
              FROM lexicon WHERE site_id = %(site)s"""

    def consistent(site: str) -> int:
        with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
            assert (
                c.execute(kept, {"site": site}).fetchone()
                == c.execute(recount, {"site": site}).fetchone()
            )
            row = c.execute(
                "SELECT chunks, total_length FROM text_stats WHERE site_id = %s", (site,)
            ).fetchone()
            live = c.execute(
                "SELECT count(*), coalesce(sum(length(tsv)), 0) FROM chunks WHERE site_id = %s",
                (site,),
            ).fetchone()
            assert (row or (0, 0)) == live
            return live[0]

    export = copy_small_sample(pressrag_env.home / "stats-site")
    add_site("stats", wxr=str(export))
    assert materialize_site("stats").success
    before = consistent("stats")
    assert_similarity_baseline_is_the_sample("stats")
    remove_wxr_item(export, 4)
    assert materialize_site("stats").success
    after = consistent("stats")
    assert 0 < after < before
    assert_similarity_baseline_is_the_sample("stats")  # the kept sample followed the change
    # New vectors for the same texts (a re-embedding): the chunk count and total length stay,
    # and the kept sample must follow all the same.
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        c.execute(
            "UPDATE chunks SET embedding = (SELECT embedding FROM chunks WHERE site_id = 'stats' "
            "ORDER BY id LIMIT 1) WHERE site_id = 'stats'"
        )
    assert consistent("stats") == after
    assert_similarity_baseline_is_the_sample("stats")
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        c.execute("DELETE FROM sites WHERE id = 'stats'")
    assert consistent("stats") == 0


def test_results_are_documents_never_the_same_twice(indexed_sites: IndexedSites) -> None:
    hits = _query("demo", "python", k=20)
    assert len(hits) == len({h.document_id for h in hits}) > 8
    assert all(h.passages >= 1 for h in hits)
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
    from pressrag.resources.store.chunks import as_array

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
    from pressrag.resources.embedders.local import LocalEmbedder

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


def test_the_embedded_server_follows_its_settings(pressrag_env: PressragEnv) -> None:
    """Tuned on start: the HNSW build's parallel workers leave the leader a core, and a
    setting changed since the server was first tuned is applied again (not only missing ones)."""
    from pressrag.resources.database import _tune
    from pressrag.resources.settings import Settings

    def shown(name: str) -> str:
        with psycopg.connect(pressrag_env.app_url, autocommit=True) as conn:
            return conn.execute(f"SHOW {name}").fetchone()[0]

    cores = len(os.sched_getaffinity(0))
    assert shown("max_parallel_maintenance_workers") == str(max(1, cores - 1))
    settings = Settings()
    before = shown("maintenance_work_mem")
    try:
        changed = settings.model_copy(update={"embedded_maintenance_work_mem": "77MB"})
        assert _tune(pressrag_env.app_url, changed) is False  # applied by a reload
        assert shown("maintenance_work_mem") == "77MB"
    finally:
        _tune(pressrag_env.app_url, settings)
    assert shown("maintenance_work_mem") == before


def test_publishing_needs_every_draft_vector_at_the_space_width(fresh_database: str) -> None:
    """Live chunks are made from the drafts and the embedding cache inside PostgreSQL: a draft
    with no cached vector, or one of another width, refuses the document with a clear error
    (writing nothing) instead of leaving a chunk out or indexing a vector search cannot use."""
    from pressrag.resources.models import ChunkDraft
    from pressrag.resources.store.chunks import publish_documents_chunks, store_vectors
    from pressrag.resources.store.documents import save_many_drafts

    apply_migrations(fresh_database)
    drafts = [
        ChunkDraft(ordinal=i, heading_path=("Tides",), text=t, embed_text=t, token_count=4)
        for i, t in enumerate(["spring tide at dawn", "neap tide at dusk"])
    ]
    with Store(fresh_database, max_size=1) as store, store.connection() as conn:
        space = ensure_space(conn, "local:test", 3)
        conn.execute(
            "INSERT INTO sites (id, source_kind, base_url) VALUES ('s', 'wxr', 'http://s.test')"
        )
        conn.execute(
            "INSERT INTO documents (id, site_id, wp_id, doc_type, status, visibility, title, "
            "content_hash) VALUES (1, 's', 1, 'post', 'publish', 'public', 'Harbour', 'h')"
        )
        save_many_drafts(conn, [(1, "h", drafts)])

        def publish() -> set[int]:
            with conn.transaction():
                return publish_documents_chunks(
                    conn, site_id="s", documents=[(1, "h")], space=space, ts_config="english"
                )

        store_vectors(conn, space.model, {drafts[0].content_hash: np.ones(3, np.float32)})
        with pytest.raises(ValueError, match=r"1 chunk\(s\) have no vector from local:test"):
            publish()
        store_vectors(conn, space.model, {drafts[1].content_hash: np.ones(2, np.float32)})
        with pytest.raises(ValueError, match=r"returned 2 dimensions; .* local:test has 3"):
            publish()
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0

        store_vectors(conn, space.model, {drafts[1].content_hash: np.zeros(3, np.float32)})
        assert publish() == {1}
        rows = conn.execute(
            "SELECT ordinal, title, text, document_chunks, embedding::text, "
            "tsv @@ to_tsquery('english', 'harbour & dusk') FROM chunks ORDER BY ordinal"
        ).fetchall()
        assert rows == [
            (0, "Harbour", "spring tide at dawn", 2, "[1,1,1]", False),
            (1, "Harbour", "neap tide at dusk", 2, "[0,0,0]", True),
        ]
        assert conn.execute("SELECT count(*) FROM chunk_drafts").fetchone()[0] == 0


def test_writes_read_only_the_documents_they_name(fresh_database: str) -> None:
    """A first index writes before autovacuum has analyzed `documents`: with those stale
    statistics, locking 256 documents by (id, hash) once scanned every document of the table
    for each of them (~0.45 s a batch of a 5,000-document site). Storing texts, saving drafts
    and publishing now read a few rows for each document they name (lock, join, update),
    whatever the planner believes, and still skip a document whose content moved on."""
    from pressrag.resources.models import ChunkDraft
    from pressrag.resources.store.chunks import publish_documents_chunks, store_vectors
    from pressrag.resources.store.documents import save_extracted_texts, save_many_drafts

    apply_migrations(fresh_database)
    site_docs, named = 5000, 256
    with Store(fresh_database, max_size=1) as store, store.connection() as conn:
        space = ensure_space(conn, "local:test", 3)
        conn.execute(
            "INSERT INTO sites (id, source_kind, base_url) VALUES ('s', 'wxr', 'http://s.test')"
        )
        for table in ("documents", "chunk_drafts"):  # statistics as stale as a first run's
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
        conn.execute(
            "INSERT INTO documents (site_id, wp_id, doc_type, status, visibility, content_html, "
            "content_hash) SELECT 's', n, 'post', 'publish', 'public', repeat('words ', 50), "
            "'h' || n FROM generate_series(1, %s) n",
            (site_docs,),
        )
        docs = conn.execute(
            "SELECT id, content_hash FROM documents ORDER BY id LIMIT %s", (named,)
        ).fetchall()
        moved_on = docs[7][0]
        conn.execute("UPDATE documents SET content_hash = 'new' WHERE id = %s", (moved_on,))
        expected = {doc_id for doc_id, _ in docs} - {moved_on}

        def documents_read(write) -> int:
            """Rows of `documents` the write read, from the transaction's own counters."""
            with conn.transaction():
                before = _rows_read(conn, "documents")
                outcome = write()
                read = _rows_read(conn, "documents") - before
            assert outcome == expected
            return read

        texts = [(doc_id, h, f"text of {doc_id}") for doc_id, h in docs]
        assert documents_read(lambda: save_extracted_texts(conn, texts)) <= 3 * named
        conn.execute("UPDATE documents SET chunked_hash = content_hash")
        drafts = {
            doc_id: [ChunkDraft(ordinal=0, heading_path=(), text=t, embed_text=t, token_count=3)]
            for doc_id, _, t in texts
        }
        store_vectors(
            conn,
            space.model,
            {d[0].content_hash: np.ones(3, np.float32) for d in drafts.values()},
        )
        saving = [(doc_id, h, drafts[doc_id]) for doc_id, h in docs]
        assert documents_read(lambda: save_many_drafts(conn, saving)) <= 3 * named

        def publishing() -> set[int]:
            return publish_documents_chunks(
                conn, site_id="s", documents=docs, space=space, ts_config="english"
            )

        assert documents_read(publishing) <= 4 * named
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == named - 1


def test_a_large_load_leaves_searches_with_current_statistics(fresh_database: str) -> None:
    """Right after a first index, before autovacuum has analyzed `documents`, the exact-title
    lookup of every search scanned each of the site's public documents with a regular
    expression (~50 ms a search at 5,000). Publishing ends by analyzing what autovacuum
    would analyze next; then a search reads a few documents, and a small change analyzes
    nothing."""
    from pressrag.resources.store.statistics import SEARCHED_TABLES, analyze_stale

    apply_migrations(fresh_database)
    site_docs = 5000
    with Store(fresh_database, max_size=1) as store, store.connection() as conn:
        space = ensure_space(conn, "local:test", 3)
        conn.execute(
            "INSERT INTO sites (id, source_kind, base_url) VALUES ('s', 'wxr', 'http://s.test')"
        )
        for table in SEARCHED_TABLES:  # statistics as stale as a first run's
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
        conn.execute(
            "INSERT INTO documents (site_id, wp_id, doc_type, status, visibility, title, url, "
            "content_hash) SELECT 's', n, 'post', 'publish', 'public', 'Post number ' || n, "
            "'http://s.test/' || n, 'h' || n FROM generate_series(1, %s) n",
            (site_docs,),
        )
        conn.execute(
            "INSERT INTO chunks (document_id, site_id, space_id, ordinal, title, text, "
            "token_count, content_hash, embedding, tsv, document_chunks) "
            "SELECT id, site_id, %s, 0, title, title, 3, content_hash, '[1,0,0]', "
            "to_tsvector('english', title), 1 FROM documents",
            (space.id,),
        )
        conn.execute("SELECT pg_stat_force_next_flush()")  # the insert counted when it commits
        conn.commit()

        def documents_read_by_a_search() -> int:
            with conn.transaction():
                before = _rows_read(conn, "documents")
                hybrid_search(
                    conn,
                    site_id="s",
                    space=space,
                    query_text="Post number 4321",
                    query_vector=np.ones(3, np.float32),
                )
                return _rows_read(conn, "documents") - before

        assert analyze_stale(conn) == sorted(SEARCHED_TABLES)
        conn.commit()
        assert documents_read_by_a_search() < 100  # before the ANALYZE: 5,008
        conn.execute("UPDATE documents SET title = title || '!' WHERE wp_id <= 20")
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()
        assert analyze_stale(conn) == []
        analyses = conn.execute(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'documents'"
        ).fetchone()[0]
        assert analyses == 1

        conn.execute("UPDATE documents SET title = title || '?'")
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()
        with psycopg.connect(fresh_database) as other:  # e.g. another site's index build
            other.execute("LOCK TABLE documents IN SHARE UPDATE EXCLUSIVE MODE")
            started = time.monotonic()
            assert analyze_stale(conn) == []  # left to autovacuum, not waited for
            assert time.monotonic() - started < 5
            conn.commit()
        assert analyze_stale(conn) == ["documents"]


def test_statistics_are_left_to_autovacuum_where_the_role_may_not_analyze(
    fresh_database: str,
) -> None:
    """On a managed database whose tables another role owns, ANALYZE by the app's role only
    warns and skips: such a table is not claimed as analyzed. PostgreSQL 17's MAINTAIN
    privilege is enough to analyze it."""
    from pressrag.resources.store.statistics import MAINTAIN_SINCE, analyze_stale

    apply_migrations(fresh_database)
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_database) as conn:
        conn.execute("ALTER TABLE documents SET (autovacuum_enabled = off)")
        conn.execute(
            "INSERT INTO sites (id, source_kind, base_url) VALUES ('s', 'wxr', 'http://s.test')"
        )
        conn.execute(
            "INSERT INTO documents (site_id, wp_id, doc_type, status, visibility, title, url, "
            "content_hash) SELECT 's', n, 'post', 'publish', 'public', 'Post ' || n, "
            "'http://s.test/' || n, 'h' || n FROM generate_series(1, 500) n"
        )
        conn.execute(f"CREATE ROLE {role} NOLOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()

        def analyzed_as_app() -> list[str]:
            with conn.transaction():
                conn.execute(f"SET LOCAL ROLE {role}")
                return analyze_stale(conn, ("documents",))

        assert analyzed_as_app() == []
        conn.commit()
        analyses = "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'documents'"
        assert conn.execute(analyses).fetchone()[0] == 0
        if conn.info.server_version >= MAINTAIN_SINCE:
            conn.execute(f"GRANT MAINTAIN ON documents TO {role}")
            assert analyzed_as_app() == ["documents"]
            conn.commit()
            assert conn.execute(analyses).fetchone()[0] == 1
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")
        conn.commit()


def _rows_read(conn: psycopg.Connection, table: str) -> int:
    """Rows of `table` this transaction has read, by sequential and index scans."""
    row = conn.execute(
        "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) "
        "FROM pg_stat_xact_user_tables WHERE relname = %s",
        (table,),
    ).fetchone()
    return row[0]
