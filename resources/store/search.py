"""Search one site: the SQL gathers vector and full-text evidence (scoped to the site in SQL),
`ranking` turns it into one ranked list of documents, and their best passages are read last."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources as package_files
from typing import TypeVar

import numpy as np
import psycopg
from psycopg import sql

from pressrag.resources.models import SearchHit
from pressrag.resources.store.chunks import as_array
from pressrag.resources.store.ranking import (
    TEXT_WEIGHT,
    ChunkEvidence,
    QueryBaseline,
    RankedDocument,
    Retrieval,
    rank_documents,
)
from pressrag.resources.store.spaces import EmbeddingSpace

_T = TypeVar("_T")

# The vector side's nearest chunks: every document with one of them is a candidate.
VECTOR_POOL = 100
# Full-text candidates beyond the pool: up to MATCH_CAP chunks holding every word of the
# question, then chunks holding its rarest word when at most RARE_DF chunks hold it (a word
# that common picks arbitrary chunks; reading its posting list cost most of a search at 100k).
RARE_DF = 2000
MATCH_CAP = 100
# Chunks the question's similarity is standardised against: a fixed uniform sample per site,
# the first SAMPLE_SIZE by `sample_key` (a random number each chunk gets on insert).
SAMPLE_SIZE = 256
# Sites whose sample a process keeps (256 × 384 floats, ~0.4 MB each).
SAMPLES_KEPT = 64


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


def _search_in_transaction(conn: psycopg.Connection, run: Callable[[], _T], ef_search: int) -> _T:
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
        result = run()
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
    return result


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
    """search.sql as sent: without its comment lines and indentation, 3.9 of its 7.6 kB.
    psycopg caches the parsing of a statement's placeholders only up to 4 kB, so the full text
    was parsed again on every search."""
    text = (package_files.files("pressrag.resources") / "store" / "search.sql").read_text("utf-8")
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


# The filter clauses, by the SearchFilters field that asks for each, with their parameter.
_FILTER_CLAUSES = {
    "post_types": ("f_types", "AND doc_type = ANY(%(f_types)s)"),
    "categories": ("f_categories", "AND terms -> 'category' ?| %(f_categories)s::text[]"),
    "tags": ("f_tags", "AND terms -> 'post_tag' ?| %(f_tags)s::text[]"),
    "published_after": ("f_after", "AND published_gmt >= %(f_after)s"),
}


def _filters_used(filters: SearchFilters | None) -> tuple[str, ...]:
    """The filters set, in a fixed order: with them, the SQL is known (values are bound)."""
    if filters is None:
        return ()
    return tuple(name for name in _FILTER_CLAUSES if getattr(filters, name))


def _filter_params(filters: SearchFilters | None, used: tuple[str, ...]) -> dict:
    return {_FILTER_CLAUSES[name][0]: getattr(filters, name) for name in used}


def _filter_clause(used: tuple[str, ...]) -> sql.Composable:
    """Fixed clauses with bound values only: a request chooses values, never SQL.

    Without filters nothing is added: live chunks only ever belong to public documents
    (invariant 2), and an extra join would keep the planner off the HNSW index. With filters,
    the matching document ids are computed once (an init plan) and checked per chunk.
    """
    if not used:
        return sql.SQL("")
    parts = sql.SQL(" ").join(sql.SQL(_FILTER_CLAUSES[name][1]) for name in used)
    return sql.SQL(
        "AND c.document_id = ANY(ARRAY(SELECT id FROM documents WHERE site_id = %(site)s "
        "AND visibility = 'public' {}))"
    ).format(parts)


def hybrid_search(
    conn: psycopg.Connection,
    *,
    site_id: str,
    space: EmbeddingSpace,
    query_text: str,
    query_vector: np.ndarray,
    k: int = 8,
    ts_config: str = "english",
    filters: SearchFilters | None = None,
    ef_search: int = DEFAULT_EF_SEARCH,
    text_weight: float = TEXT_WEIGHT,
    retrieval: Retrieval = "hybrid",
) -> list[SearchHit]:
    """The k best documents of `site_id` for the question, each with its best passage.

    On a search session (see configure_search_session) it is two statements and no
    transaction; on any other connection it runs in its own transaction so that the
    settings stay local to it. `retrieval` ranks by one side only (benchmarks, diagnosis).
    """
    query, params = _evidence_query(site_id, space, query_text, query_vector, k, ts_config, filters)

    def run() -> list[SearchHit]:
        rows = _evidence_rows(conn, query, params)
        baseline = _baseline(conn, site_id, space, query_vector, rows)
        ranked = rank_documents(
            _evidence(rows), baseline, k=k, text_weight=text_weight, retrieval=retrieval
        )
        return _with_passages(conn, site_id, ranked)

    return _run(conn, run, ef_search)


def keyword_search(
    conn: psycopg.Connection,
    *,
    site_id: str,
    space: EmbeddingSpace,
    query_text: str,
    k: int = 8,
    ts_config: str = "english",
    filters: SearchFilters | None = None,
) -> list[SearchHit]:
    """The text half of `hybrid_search` alone, for when no provider can embed the question
    in the index's space (serving degrades to it rather than failing): the same SQL with an
    empty vector pool, so the same site scoping, filters and full-text candidates, ranked by
    BM25 evidence only. Hits carry no vector distance (`vector_distance` None)."""
    query, params = _evidence_query(site_id, space, query_text, None, k, ts_config, filters)

    def run() -> list[SearchHit]:
        rows = _evidence_rows(conn, query, params)
        bm25_mean, bm25_spread = (rows[0][6] or 0.0, rows[0][7] or 0.0) if rows else (0.0, 0.0)
        baseline = QueryBaseline(0.0, 0.0, bm25_mean, bm25_spread)
        ranked = rank_documents(_evidence(rows), baseline, k=k, retrieval="text")
        return _with_passages(conn, site_id, ranked, keyword_only=True)

    return _run(conn, run, DEFAULT_EF_SEARCH)


def gather_evidence(
    conn: psycopg.Connection,
    *,
    site_id: str,
    space: EmbeddingSpace,
    query_text: str,
    query_vector: np.ndarray,
    k: int = 8,
    ts_config: str = "english",
    filters: SearchFilters | None = None,
    ef_search: int = DEFAULT_EF_SEARCH,
) -> tuple[list[ChunkEvidence], QueryBaseline]:
    """What `hybrid_search` ranks, for rankings with other weights (bench/quality.py)."""
    query, params = _evidence_query(site_id, space, query_text, query_vector, k, ts_config, filters)

    def run() -> tuple[list[ChunkEvidence], QueryBaseline]:
        rows = _evidence_rows(conn, query, params)
        return _evidence(rows), _baseline(conn, site_id, space, query_vector, rows)

    return _run(conn, run, ef_search)


def _evidence_rows(conn: psycopg.Connection, query: str, params: dict) -> list[tuple]:
    """The evidence statement's rows, in binary: ~120 rows of numbers, which psycopg loads
    ~3× faster from their binary form than by parsing their text (0.44 → 0.13 ms of CPU a
    search at 100k chunks)."""
    return conn.execute(query, params, binary=True).fetchall()


def _run(conn: psycopg.Connection, run: Callable[[], _T], ef_search: int) -> _T:
    if conn in _search_sessions and ef_search == DEFAULT_EF_SEARCH:
        return run()
    return _search_in_transaction(conn, run, ef_search)


def _vector_side(space: EmbeddingSpace, with_vector: bool) -> dict[str, sql.Composable]:
    """The template's vector parts: the question vector's, or (keyword-only) none at all —
    an empty pool (`WHERE false` is folded away by the planner), similarity 0, and then the
    chunks holding any rarer word of the question as candidates too (`any_word`)."""
    if not with_vector:
        return {
            "vector_side": sql.SQL("false"),
            "similarity": sql.SQL("0::float8"),
            "nearness": sql.SQL("1::float8"),
            "keyword_only": sql.SQL("true"),
        }
    # The question vector goes in binary (%b; `%s` picks it too, pgvector registering its
    # binary dumper last): the text dumper would format its 384 floats one by one in Python
    # (~0.24 ms), the binary one copies the float4 bytes; both give PostgreSQL the same values.
    # The pool is found by the HNSW index's own expression (half precision, cast to the
    # space's dimension as the index is), then scored by the full vectors, which need no cast.
    return {
        "vector_side": sql.SQL("true"),
        "similarity": sql.SQL("1 - (c.embedding <=> %(qvec)b)"),
        "nearness": sql.SQL("(c.embedding::{t}) <=> %(qvec)b::{t}").format(t=space.index_type),
        "keyword_only": sql.SQL("false"),
    }


def _evidence_query(
    site_id: str,
    space: EmbeddingSpace,
    query_text: str,
    query_vector: np.ndarray | None,
    k: int,
    ts_config: str,
    filters: SearchFilters | None,
) -> tuple[str, dict]:
    """The evidence SQL and its parameters; without a query vector, the text side only."""
    used = _filters_used(filters)
    query = _evidence_sql(space, int(max(VECTOR_POOL, k)), query_vector is not None, used)
    params = {
        "site": site_id,
        "qtext": query_text,
        "ts_config": ts_config,
        **_filter_params(filters, used),
    }
    if query_vector is not None:
        params["qvec"] = np.asarray(query_vector, dtype=np.float32)
    return query, params


# A candidate's length and its tsvector cut to the question's lexemes (setweight marks them,
# ts_filter keeps them), for BM25: taken from the row that the HNSW scan or the id lookup
# already holds (reading each candidate again by id was ~600 buffer reads a search at 100k).
# Only the question's lexemes are kept, so BM25's cost does not grow with a chunk's length.
_TEXT_EVIDENCE = sql.SQL(
    "length(c.tsv) AS length, "
    "ts_filter(setweight(setweight(c.tsv, 'D'), 'A', (SELECT lexemes FROM question)), '{a}') "
    "AS lexemes"
)


@lru_cache(maxsize=256)
def _evidence_sql(
    space: EmbeddingSpace, pool: int, with_vector: bool, filters: tuple[str, ...]
) -> str:
    """The template filled in, once per shape of search: composing and quoting the 7 kB
    statement cost ~0.5 ms of CPU a search, as much as the ranking."""
    query = sql.SQL(_template()).format(
        space=sql.Literal(space.id),
        chunk_filter=_filter_clause(filters),
        pool=sql.Literal(pool),
        rare_df=sql.Literal(RARE_DF),
        match_cap=sql.Literal(MATCH_CAP),
        text_evidence=_TEXT_EVIDENCE,
        **_vector_side(space, with_vector),
    )
    return query.as_string()


def _evidence(rows: list[tuple]) -> list[ChunkEvidence]:
    """The rows' first six columns are ChunkEvidence's fields, in order."""
    return [ChunkEvidence._make(r[:6]) for r in rows]


@dataclass(frozen=True)
class _SimilaritySample:
    """A site's sample chunks as unit vectors, and the site's size when they were read."""

    version: int | None  # text_stats.version when read (None: the site has no chunks)
    vectors: np.ndarray  # (SAMPLE_SIZE or fewer, dimension)

    def statistics(self, query_vector: np.ndarray) -> tuple[float, float]:
        """Mean and spread of the question's cosine similarity to the sample."""
        if not len(self.vectors):
            return 0.0, 0.0
        norm = float(np.linalg.norm(query_vector))
        similarities = self.vectors @ (np.asarray(query_vector, dtype=np.float64) / (norm or 1.0))
        return float(similarities.mean()), float(similarities.std())


class _SampleCache:
    """Each site's similarity sample, read once and again only when the site changed.

    The sample is the same for every question until the site's chunks change (and with them
    `text_stats.version`, which every search reads anyway), so a search does 256 dot
    products in numpy instead of reading 256 vectors (~2 ms at 100k).
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple, _SimilaritySample] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        conn: psycopg.Connection,
        site_id: str,
        space: EmbeddingSpace,
        version: int | None,
    ) -> _SimilaritySample:
        key = (conn.info.host, conn.info.port, conn.info.dbname, site_id, space.id)
        with self._lock:
            sample = self._items.get(key)
            if sample is not None and sample.version == version:
                self._items.move_to_end(key)
                return sample
        sample = _SimilaritySample(version, _read_sample(conn, site_id, space))
        with self._lock:
            self._items[key] = sample
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return sample


_samples = _SampleCache(SAMPLES_KEPT)


def _read_sample(conn: psycopg.Connection, site_id: str, space: EmbeddingSpace) -> np.ndarray:
    rows = conn.execute(
        sql.SQL(
            "SELECT c.embedding::{vtype} FROM chunks c "
            "WHERE c.site_id = %s AND c.space_id = {space} ORDER BY c.sample_key LIMIT {n}"
        ).format(vtype=space.vector_type, space=sql.Literal(space.id), n=sql.Literal(SAMPLE_SIZE)),
        (site_id,),
        binary=True,  # the float bytes, not 256 × 384 numbers parsed in Python (~40 ms)
    ).fetchall()
    if not rows:
        return np.zeros((0, space.dimension))
    vectors = np.stack([as_array(r[0]) for r in rows]).astype(np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _baseline(
    conn: psycopg.Connection,
    site_id: str,
    space: EmbeddingSpace,
    query_vector: np.ndarray,
    rows: list[tuple],
) -> QueryBaseline:
    """The question's statistics (the BM25 ones are the same in every row); none when
    nothing was found."""
    if not rows:
        return QueryBaseline(0.0, 0.0, 0.0, 0.0)
    bm25_mean, bm25_spread, version = rows[0][6:9]
    sample = _samples.get(conn, site_id, space, version)
    mean, spread = sample.statistics(query_vector)
    return QueryBaseline(mean, spread, bm25_mean or 0.0, bm25_spread or 0.0)


_PASSAGES = """
SELECT c.id, d.id, d.wp_id, d.doc_type, d.title, d.url, c.heading_path, c.text
FROM chunks c
JOIN documents d ON d.id = c.document_id AND d.site_id = %(site)s
WHERE c.id = ANY(%(ids)s) AND c.site_id = %(site)s
"""


def _with_passages(
    conn: psycopg.Connection,
    site_id: str,
    ranked: list[RankedDocument],
    *,
    keyword_only: bool = False,
) -> list[SearchHit]:
    """Texts and titles are read for the k winners only, not for every candidate."""
    if not ranked:
        return []
    rows = conn.execute(_PASSAGES, {"site": site_id, "ids": [r.chunk_id for r in ranked]})
    by_chunk = {r[0]: r for r in rows.fetchall()}
    hits = []
    for r in ranked:
        row = by_chunk.get(r.chunk_id)
        if row is None:  # deleted between the two statements
            continue
        hits.append(
            SearchHit(
                chunk_id=r.chunk_id,
                document_id=row[1],
                wp_id=row[2],
                doc_type=row[3],
                title=row[4],
                url=row[5],
                heading_path=list(row[6]),
                text=row[7],
                score=r.score,
                vector_score=0.0 if keyword_only else r.vector_score,
                text_score=r.text_score,
                vector_distance=None if keyword_only else 1.0 - r.similarity,
                passages=r.passages,
            )
        )
    return hits
