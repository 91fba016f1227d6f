"""Serving benchmark: latency and throughput of /v1/search and /v1/ask (extractive).

    .venv/bin/python bench/serve.py [--home DIR] [--duration 6] [--clients 1,8,32]
                                    [--scale 100000] [--no-scale]

Two data sets, each served by a real `python -m serving` process on 127.0.0.1:

- **sample** — the shipped `samples/pydocs` site, indexed through Dagster (reused when
  `--home` already holds it);
- **scale** — a separate database on the same embedded server holding the sample's real
  chunks plus synthetic ones up to `--scale` chunks, all in site `demo`: each synthetic
  chunk copies a real chunk's text and takes its vector plus Gaussian noise (cosine ≈ 0.9
  to the original), inserted with binary COPY, then the HNSW index is built.

For each set, endpoint and client count it prints p50 / p95 / p99 latency and requests/s,
with every request asking a question the server has not seen (so the query-embedding cache
misses; one extra line shows repeated questions, which hit it). The server's own timings
(embed_ms, search_ms from the responses) and, measured in this process, the SQL-only time
of `hybrid_search` and the query-embedding time make the serving overhead visible. Load
generator and server share the machine's cores; figures are for that set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import random
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.serving import ADMIN_KEY, ServingServer  # noqa: E402

SAMPLE = REPO / "samples" / "pydocs"
QUERIES = [q["query"] for q in json.loads((SAMPLE / "queries.json").read_text())["queries"]]
VARIANTS = ["please", "exactly", "in python", "briefly", "again", "now", "here", "today"]
SCALE_DB = "pressrag_bench_scale"
NOISE_COSINE = 0.9  # synthetic vectors sit this close to the real chunk they copy


# ------------------------------------------------------------------ figures
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass
class Run:
    label: str
    latencies_ms: list[float] = field(default_factory=list)
    embed_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        lat = self.latencies_ms
        rps = len(lat) / self.seconds if self.seconds else 0.0
        embed = statistics.median(self.embed_ms) if self.embed_ms else float("nan")
        search = statistics.median(self.search_ms) if self.search_ms else float("nan")
        p50 = pct(lat, 50)
        overhead = p50 - embed - search
        return (
            f"{self.label:<34} n={len(lat):>5} err={self.errors:<3} "
            f"p50={p50:7.1f} p95={pct(lat, 95):7.1f} p99={pct(lat, 99):7.1f} ms  "
            f"{rps:6.1f} req/s | server embed p50 {embed:5.1f}  sql p50 {search:5.1f}  "
            f"other {overhead:5.1f} ms"
        )


# ------------------------------------------------------------------ load
_COUNTER = itertools.count()  # across runs, so no run re-asks another run's questions


async def load(
    base_url: str, path: str, clients: int, duration: float, fresh: bool, label: str
) -> Run:
    run = Run(label)
    key = "query" if path == "/v1/search" else "question"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def body() -> dict:
        i = next(_COUNTER)
        question = QUERIES[i % len(QUERIES)]
        if fresh:  # a question never asked before: the embedding cache cannot help
            question = f"{question} {VARIANTS[(i // len(QUERIES)) % len(VARIANTS)]} {i}"
        return {"site": "demo", key: question}

    async def worker(client: httpx.AsyncClient, until: float, record: bool) -> None:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            response = await client.post(path, json=body(), headers=headers)
            elapsed = (time.perf_counter() - t0) * 1000
            if not record:
                continue
            if response.status_code != 200:
                run.errors += 1
                continue
            run.latencies_ms.append(elapsed)
            timings = response.json()["timings"]
            run.embed_ms.append(timings.get("embed_ms", 0.0))
            run.search_ms.append(timings.get("search_ms", 0.0))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        warm_until = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(client, warm_until, False) for _ in range(clients)))
        start = time.perf_counter()
        until = start + duration
        await asyncio.gather(*(worker(client, until, True) for _ in range(clients)))
        run.seconds = time.perf_counter() - start
    return run


def bench_server(base_url: str, name: str, clients: list[int], duration: float) -> None:
    for path in ("/v1/search", "/v1/ask"):
        for n in clients:
            label = f"{name} {path} c={n}"
            print(asyncio.run(load(base_url, path, n, duration, True, label)).line(), flush=True)
    label = f"{name} /v1/search c=8 repeated"
    print(asyncio.run(load(base_url, "/v1/search", 8, duration, False, label)).line(), flush=True)


# ------------------------------------------------------------------ in-process baselines
VECTOR_ONLY = """SELECT id FROM chunks WHERE space_id = %(space)s AND site_id = 'demo'
ORDER BY (embedding::vector({dim})) <=> %(v)s::vector({dim}) LIMIT 40"""
TEXT_ONLY = """WITH q AS (
  SELECT to_tsquery('simple', string_agg(quote_literal(lex), ' | ')) AS query
  FROM unnest(tsvector_to_array(to_tsvector('english', %(t)s))) AS lex)
SELECT c.id FROM chunks c, q WHERE c.space_id = %(space)s AND c.site_id = 'demo'
  AND c.tsv @@ q.query ORDER BY ts_rank_cd(c.tsv, q.query) DESC, c.id LIMIT 40"""


def baselines(db_url: str, name: str, embedder: object) -> None:
    """In this process: the query-embedding time, and the SQL-only time of hybrid_search
    (precomputed vectors) and of its two halves (HNSW vector candidates, full-text
    candidates ranked with the same OR-of-lexemes query as search.sql)."""
    from resources.store import Store
    from resources.store.search import hybrid_search

    questions = [f"{q} {v}" for v in VARIANTS[:2] for q in QUERIES]
    embed_ms = []
    vectors = []
    for q in questions:
        t0 = time.perf_counter()
        vectors.append(embedder.embed([q])[0])  # type: ignore[attr-defined]
        embed_ms.append((time.perf_counter() - t0) * 1000)
    timings: dict[str, list[float]] = {"hybrid": [], "vector": [], "text": []}
    with Store(db_url, max_size=1) as store:
        space = store.active_space()
        assert space is not None
        vector_sql = VECTOR_ONLY.format(dim=space.dimension)
        with store.connection() as conn:
            for q, v in zip(questions, vectors, strict=True):
                t0 = time.perf_counter()
                hybrid_search(conn, site_id="demo", space=space, query_text=q, query_vector=v, k=8)
                t1 = time.perf_counter()
                with conn.transaction():
                    conn.execute("SET LOCAL hnsw.ef_search = 100")
                    conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    conn.execute(vector_sql, {"space": space.id, "v": v}).fetchall()
                t2 = time.perf_counter()
                conn.execute(TEXT_ONLY, {"space": space.id, "t": q}).fetchall()
                t3 = time.perf_counter()
                timings["hybrid"].append((t1 - t0) * 1000)
                timings["vector"].append((t2 - t1) * 1000)
                timings["text"].append((t3 - t2) * 1000)
            conn.rollback()
    sql50, emb50 = statistics.median(timings["hybrid"]), statistics.median(embed_ms)
    print(
        f"{name} in-process: hybrid_search SQL p50 {sql50:.1f} p95 {pct(timings['hybrid'], 95):.1f}"
        f" ms (vector half p50 {statistics.median(timings['vector']):.1f}, full-text half p50 "
        f"{statistics.median(timings['text']):.1f}); query embedding p50 {emb50:.1f} p95 "
        f"{pct(embed_ms, 95):.1f} ms; embedding/SQL ratio {emb50 / sql50:.2f}",
        flush=True,
    )


# ------------------------------------------------------------------ data sets
def ensure_sample(home: Path) -> str:
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_DATABASE_URL", "PRESSRAG_APP_DB_URL"):
        os.environ.pop(name, None)
    from orchestration.environment import prepare
    from resources.store import Store
    from resources.store.status import site_status

    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        indexed = conn.execute("SELECT 1 FROM sites WHERE id = 'demo'").fetchone() and (
            site_status(conn, "demo")["chunks"] > 0
        )
    if not indexed:
        from orchestration.run import index_site_now
        from orchestration.sites import add_site

        print("indexing the sample site (once per --home) ...", flush=True)
        add_site("demo", wxr=str(SAMPLE / "export.xml"))
        if not index_site_now("demo"):
            raise SystemExit("indexing the sample site failed")
    return urls.app


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
COPY_TRAILER = struct.pack("!h", -1)


def _binary_copy_rows(rows: list[tuple], dimension: int) -> bytes:
    """Binary COPY tuples of (document_id, ordinal, text, token_count, hash, vector)."""
    out = io.BytesIO()
    for document_id, ordinal, text, tokens, digest, vector in rows:
        out.write(struct.pack("!h", 6))
        out.write(struct.pack("!iq", 8, document_id))
        out.write(struct.pack("!ii", 4, ordinal))
        data = text.encode()
        out.write(struct.pack("!i", len(data)) + data)
        out.write(struct.pack("!ii", 4, tokens))
        data = digest.encode()
        out.write(struct.pack("!i", len(data)) + data)
        # pgvector's binary format: dim (int16), unused (int16), float4 values.
        payload = struct.pack("!hh", dimension, 0) + np.asarray(vector, ">f4").tobytes()
        out.write(struct.pack("!i", len(payload)) + payload)
    return out.getvalue()


def existing_scale(app_url: str, total: int) -> str | None:
    import psycopg

    from resources.database import with_database

    scale_url = with_database(app_url, SCALE_DB)
    try:
        with psycopg.connect(scale_url) as conn:
            count = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    except psycopg.Error:
        return None
    return scale_url if count == total else None


def build_scale(app_url: str, total: int) -> str:
    """A separate database: the sample's real chunks + synthetic ones near them."""
    import psycopg
    from pgvector.psycopg import register_vector

    from resources.database import with_database
    from resources.store import Store
    from resources.store.spaces import ensure_hnsw_index, ensure_space

    scale_url = with_database(app_url, SCALE_DB)
    with psycopg.connect(app_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCALE_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SCALE_DB}"')
    with psycopg.connect(app_url) as src:
        register_vector(src)
        site = src.execute(
            "SELECT id, source_kind, base_url, wxr_path, settings, webhook_key_ids, token_key_ids "
            "FROM sites WHERE id = 'demo'"
        ).fetchone()
        model, dimension = src.execute(
            "SELECT model, dimension FROM embedding_spaces WHERE state = 'active'"
        ).fetchone()
        chunks = src.execute(
            "SELECT d.title, d.doc_type, d.published_gmt, c.heading_path, c.text, c.token_count, "
            "c.embedding FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.site_id = 'demo' AND d.visibility = 'public'"
        ).fetchall()
    t0 = time.perf_counter()
    Store(scale_url, max_size=1).close()  # applies the migrations
    rng = np.random.default_rng(7)
    per_doc = 20
    n_docs = max(1, total // per_doc)
    with psycopg.connect(scale_url) as conn:
        register_vector(conn)
        conn.execute(
            "INSERT INTO sites (id, source_kind, base_url, wxr_path, settings, webhook_key_ids, "
            "token_key_ids) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (*site[:4], json.dumps(site[4]), site[5], site[6]),
        )
        space = ensure_space(conn, model, dimension)
        conn.execute("DROP INDEX IF EXISTS " + f"chunks_hnsw_space_{space.id}")
        with conn.cursor().copy(
            "COPY documents (id, site_id, wp_id, doc_type, url, title, status, visibility, "
            "content_hash, published_gmt) FROM STDIN"
        ) as copy:
            for d in range(n_docs):
                real = chunks[d % len(chunks)]
                copy.write_row(
                    (
                        d + 1,
                        "demo",
                        100_000 + d,
                        real[1],
                        f"http://pydocs.example/scale-{d}/",
                        f"{real[0]} ({d})",
                        "publish",
                        "public",
                        f"h{d}",
                        real[2],
                    )
                )
        conn.execute("SELECT setval('documents_id_seq', %s)", (n_docs,))
        conn.execute(
            "CREATE UNLOGGED TABLE staging (document_id bigint, ordinal int, text text, "
            "token_count int, content_hash text, embedding vector)"
        )
        sigma = np.sqrt((1 / NOISE_COSINE**2 - 1) / dimension)
        batch: list[tuple] = []
        with conn.cursor().copy("COPY staging FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.write(COPY_HEADER)
            for i in range(n_docs * per_doc):
                real = (
                    chunks[i % len(chunks)]
                    if i < len(chunks)
                    else chunks[rng.integers(len(chunks))]
                )
                vector = np.asarray(real[6].to_numpy(), dtype=np.float32)
                if i >= len(chunks):
                    vector = vector + rng.normal(0, sigma, dimension).astype(np.float32)
                    vector /= np.linalg.norm(vector)
                batch.append((i // per_doc + 1, i % per_doc, real[4], real[5], f"c{i}", vector))
                if len(batch) == 5000:
                    copy.write(_binary_copy_rows(batch, dimension))
                    batch = []
            if batch:
                copy.write(_binary_copy_rows(batch, dimension))
            copy.write(COPY_TRAILER)
        conn.execute(
            """INSERT INTO chunks (document_id, site_id, space_id, ordinal, title, heading_path,
                                   text, token_count, content_hash, embedding, tsv)
               SELECT s.document_id, 'demo', %s, s.ordinal, d.title, '{}', s.text,
                      s.token_count, s.content_hash, s.embedding,
                      setweight(to_tsvector('english', d.title), 'A')
                      || to_tsvector('english', s.text)
               FROM staging s JOIN documents d ON d.id = s.document_id""",
            (space.id,),
        )
        conn.execute("DROP TABLE staging")
        conn.commit()
        print(
            f"scale set: {n_docs * per_doc} chunks copied in {time.perf_counter() - t0:.0f} s; "
            "building the HNSW index ...",
            flush=True,
        )
        t1 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        ensure_hnsw_index(conn, space)
        conn.commit()
    with psycopg.connect(scale_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE chunks")
        conn.execute("VACUUM ANALYZE documents")
    print(f"HNSW index built in {time.perf_counter() - t1:.0f} s", flush=True)
    return scale_url


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--home", type=Path, help="PRESSRAG_HOME to (re)use; default: a temp dir")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per measurement")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--scale", type=int, default=100_000, help="chunks in the scale set")
    parser.add_argument("--no-scale", action="store_true")
    parser.add_argument(
        "--reuse-scale", action="store_true", help="keep an existing scale database of that size"
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    home = args.home or Path(tempfile.mkdtemp(prefix="pressrag-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    app_url = ensure_sample(home.resolve())

    from resources.embedders.local import LocalEmbedder

    embedder = LocalEmbedder(threads=1)
    embedder.load()
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    limits = {"PRESSRAG_LOG_LEVEL": "warning"}

    print(f"\n== sample set ({home}) ==", flush=True)
    baselines(app_url, "sample", embedder)
    with ServingServer(logs / "sample.log", **limits) as server:
        bench_server(server.base_url, "sample", clients, args.duration)

    if args.no_scale:
        return
    print(f"\n== scale set ({args.scale} chunks) ==", flush=True)
    scale_url = existing_scale(app_url, args.scale) if args.reuse_scale else None
    scale_url = scale_url or build_scale(app_url, args.scale)
    baselines(scale_url, "scale", embedder)
    with ServingServer(logs / "scale.log", PRESSRAG_APP_DB_URL=scale_url, **limits) as server:
        bench_server(server.base_url, "scale", clients, args.duration)


if __name__ == "__main__":
    random.seed(7)
    main()
