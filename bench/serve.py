"""Serving benchmark: latency and throughput of /v1/search and /v1/ask (extractive).

    .venv/bin/python bench/serve.py [--home DIR] [--duration 6] [--clients 1,8,32]
                                    [--scale 100000] [--no-scale] [--reuse-scale]
                                    [--backends onnx-int8,onnx,torch] [--gateway]

Two data sets, each served by a real `python -m pressrag.serving` process on 127.0.0.1:

- **sample** — the shipped `samples/pydocs` site, indexed through Dagster (reused when
  `--home` already holds it);
- **scale** — a separate database on the same embedded server holding the sample's real
  chunks plus synthetic ones up to `--scale` chunks, all in site `demo`: each synthetic
  chunk copies a real chunk's text and takes its vector plus Gaussian noise (cosine ≈ 0.9
  to the original), inserted with binary COPY, then the HNSW index is built; before it is
  measured its table and indexes are read into the OS cache (pg_prewarm), as on a server
  that has been answering for a while.

For each set, endpoint and client count it prints p50 / p95 / p99 latency and requests/s,
with every request asking a question the server has not seen (the sample's questions with a
common word added; for /v1/search written in a case no request used before, `unseen`, and
for /v1/ask numbered, since the answer cache ignores case; so the caches miss; one extra
line shows repeated questions, which hit). The server's own timings
(embed_ms, search_ms from the responses) and, measured in this process, the SQL-only time
of `hybrid_search` and the query-embedding time of each backend (PyTorch, the baseline;
ONNX Runtime exact; ONNX Runtime int8, serving's default) make the serving overhead
visible. The scale set is served once per `--backends` entry. Load generator and server
share the machine's two cores; the generator is a bare keep-alive HTTP/1.1 client (~0.3 ms
of CPU a request, where httpx took ~4) so that the figures measure the server.

`--gateway` (issue 13) measures, on the sample set: the usage ledger's overhead on
`/v1/search` (servers with `PRESSRAG_USAGE_LEDGER` on and off, alternated), and `/v1/ask`
answered from the answer cache (every question asked once before, so each request is a hit).
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
from urllib.parse import urlsplit

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.serving import ADMIN_KEY, ServingServer  # noqa: E402

SAMPLE = REPO / "samples" / "pydocs"
QUERIES = [q["query"] for q in json.loads((SAMPLE / "queries.json").read_text())["queries"]]
VARIANTS = ["please", "exactly", "in python", "briefly", "again", "now", "here", "today"]
EXTRA_VARIANTS = ["quickly", "simply", "properly"]  # with VARIANTS, > 200 recall questions
SCALE_DB = "pressrag_bench_scale"
NOISE_COSINE = 0.9  # synthetic vectors sit this close to the real chunk they copy


# ------------------------------------------------------------------ figures
def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class CpuMeter:
    """CPU seconds used so far by the serving process (all its threads) and by the PostgreSQL
    server (its postmaster's children: the backends and background workers).

    Latency and req/s on this shared two-core machine move with whatever else runs, several
    times over; the CPU a request costs moves far less (±20 % between identical runs under
    other sessions' load), so it is the figure to compare between runs, averaged over several.
    """

    def __init__(self, server_pid: int, db_url: str) -> None:
        import psutil
        import psycopg

        with psycopg.connect(db_url) as conn:
            data_directory = conn.execute("SHOW data_directory").fetchone()[0]
        postmaster = int((Path(data_directory) / "postmaster.pid").read_text().split()[0])
        self._server = psutil.Process(server_pid)
        self._postmaster = psutil.Process(postmaster)

    @staticmethod
    def _seconds(process: object) -> float:
        times = process.cpu_times()  # type: ignore[attr-defined]
        return times.user + times.system

    def read(self) -> tuple[float, float]:
        """(serving, PostgreSQL) CPU seconds; a backend that exited since is not counted."""
        import psutil

        database = 0.0
        for child in self._postmaster.children():
            try:
                database += self._seconds(child)
            except psutil.NoSuchProcess:
                continue
        return self._seconds(self._server), database


@dataclass
class Run:
    label: str
    latencies_ms: list[float] = field(default_factory=list)
    embed_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0
    cpu_seconds: tuple[float, float] | None = None  # (serving, PostgreSQL) during the run
    load_average: float = 0.0  # the machine's 1-minute load average at the end of the run

    def line(self) -> str:
        lat = self.latencies_ms
        rps = len(lat) / self.seconds if self.seconds else 0.0
        embed = statistics.median(self.embed_ms) if self.embed_ms else float("nan")
        search = statistics.median(self.search_ms) if self.search_ms else float("nan")
        p50 = pct(lat, 50)
        overhead = p50 - embed - search
        cpu = ""
        if self.cpu_seconds is not None and lat:
            server, database = (1000 * s / len(lat) for s in self.cpu_seconds)
            cpu = f" | CPU/req serving {server:4.1f} + PostgreSQL {database:4.1f} ms"
        return (
            f"{self.label:<34} n={len(lat):>5} err={self.errors:<3} "
            f"p50={p50:7.1f} p95={pct(lat, 95):7.1f} p99={pct(lat, 99):7.1f} ms  "
            f"{rps:6.1f} req/s | server embed p50 {embed:5.1f}  sql p50 {search:5.1f}  "
            f"other {overhead:5.1f} ms{cpu} | load {self.load_average:.1f}"
        )


# ------------------------------------------------------------------ load
_COUNTER = itertools.count()  # across runs, so no run re-asks another run's questions


def unseen(question: str, i: int) -> str:
    """`question` as request `i` alone writes it: its letters' case spells `i` in binary. The
    query-embedding cache keys on the text, so it misses, while the search is the question's
    own: the model is uncased and full-text search lowercases. (A number appended
    instead was a search term of its own, and 4-digit numbers are rare words in this corpus,
    so a search cost more the more requests had run before it: PostgreSQL 6.7 against 5.6 ms
    a request at 100k, from request 6,000 on against from 0.)"""
    letters = [n for n, char in enumerate(question) if char.isalpha()]
    if i >> len(letters):
        raise ValueError(f"more requests than ways to write {question!r}")
    chars = list(question.lower())
    for bit, n in enumerate(letters):
        if i >> bit & 1:
            chars[n] = chars[n].upper()
    return "".join(chars)


class RawHttpClient:
    """One keep-alive HTTP/1.1 connection speaking just enough protocol for JSON POSTs.

    The load generator shares the server's two cores: httpx costs ~4 ms of CPU per request,
    this ~0.3 ms, so the figures measure the server, not the client.
    """

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(
        self, path: str, payload: dict, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        body = json.dumps(payload).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load(
    base_url: str,
    path: str,
    clients: int,
    duration: float,
    fresh: bool,
    label: str,
    meter: CpuMeter | None = None,
) -> Run:
    run = Run(label)
    key = "query" if path == "/v1/search" else "question"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def body() -> dict:
        i = next(_COUNTER)
        question = QUERIES[i % len(QUERIES)]
        if fresh:  # a question never asked before: the caches cannot help
            question = f"{question} {VARIANTS[(i // len(QUERIES)) % len(VARIANTS)]}"
            # The answer cache ignores case, so /v1/ask's questions still carry a number.
            question = unseen(question, i) if key == "query" else f"{question} {i}"
        return {"site": "demo", key: question}

    async def worker(client: RawHttpClient, until: float, record: bool) -> None:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            status, content = await client.post_json(path, body(), headers)
            elapsed = (time.perf_counter() - t0) * 1000
            if not record:
                continue
            if status != 200:
                run.errors += 1
                continue
            run.latencies_ms.append(elapsed)
            timings = json.loads(content)["timings"]
            run.embed_ms.append(timings.get("embed_ms", 0.0))
            run.search_ms.append(timings.get("search_ms", 0.0))

    connections = [RawHttpClient(base_url) for _ in range(clients)]
    try:
        warm_until = time.perf_counter() + 1.0
        await asyncio.gather(*(worker(c, warm_until, False) for c in connections))
        before = meter.read() if meter is not None else None
        start = time.perf_counter()
        until = start + duration
        await asyncio.gather(*(worker(c, until, True) for c in connections))
        run.seconds = time.perf_counter() - start
        if meter is not None and before is not None:
            after = meter.read()
            run.cpu_seconds = (after[0] - before[0], after[1] - before[1])
        run.load_average = os.getloadavg()[0]
    finally:
        for connection in connections:
            connection.close()
    return run


def bench_gateway(logs: Path, clients: list[int], duration: float, env: dict[str, str]) -> None:
    """The ledger's overhead on /v1/search, and cached answers of /v1/ask."""
    print("\n== gateway: usage ledger on/off, /v1/search, new questions ==", flush=True)
    for ledger in ("true", "false", "true", "false"):
        with ServingServer(
            logs / f"gateway-ledger-{ledger}.log", PRESSRAG_USAGE_LEDGER=ledger, **env
        ) as server:
            for n in clients:
                label = f"ledger={ledger:5} /v1/search c={n}"
                run = asyncio.run(load(server.base_url, "/v1/search", n, duration, True, label))
                print(run.line(), flush=True)
    print("\n== gateway: answer cache, /v1/ask, questions asked before ==", flush=True)
    with ServingServer(logs / "gateway-cache.log", **env) as server:
        import httpx

        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            for question in QUERIES:  # each answer cached once
                client.post(
                    "/v1/ask",
                    json={"site": "demo", "question": question},
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                )
        for n in clients:
            label = f"cached /v1/ask c={n}"
            run = asyncio.run(load(server.base_url, "/v1/ask", n, duration, False, label))
            print(run.line(), flush=True)
        for n in clients[:1]:
            label = f"uncached /v1/ask c={n}"
            run = asyncio.run(load(server.base_url, "/v1/ask", n, duration, True, label))
            print(run.line(), flush=True)


def bench_server(
    server: ServingServer, db_url: str, name: str, clients: list[int], duration: float
) -> None:
    assert server.process is not None
    meter = CpuMeter(server.process.pid, db_url)
    base_url = server.base_url
    for path in ("/v1/search", "/v1/ask"):
        for n in clients:
            label = f"{name} {path} c={n}"
            run = asyncio.run(load(base_url, path, n, duration, True, label, meter))
            print(run.line(), flush=True)
    label = f"{name} /v1/search c=8 repeated"
    run = asyncio.run(load(base_url, "/v1/search", 8, duration, False, label, meter))
    print(run.line(), flush=True)


# ------------------------------------------------------------------ in-process baselines
# The space id is a literal, as in search.sql: the HNSW indexes are partial, one per space, and
# a generic plan with the space as a parameter could not use them. Ordered by the index's own
# expression (half precision), as search's vector pool is.
VECTOR_ONLY = """SELECT id FROM chunks WHERE space_id = {space} AND site_id = 'demo'
ORDER BY (embedding::halfvec({dim})) <=> %(v)s::halfvec({dim}) LIMIT 40"""
BACKENDS = ("torch", "onnx", "onnx-int8")


def _timed(fn, items) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def embedding_baselines(embedders: dict[str, object]) -> dict[str, float]:
    """One question at a time, one thread: each backend of the local model. PyTorch is the
    baseline (what serving used before ONNX Runtime)."""
    questions = [f"{q} {v}" for v in VARIANTS[:2] for q in QUERIES]
    medians = {}
    for name, embedder in embedders.items():
        embed = embedder.embed  # type: ignore[attr-defined]
        _timed(lambda q, embed=embed: embed([q]), questions[:5])  # warm
        times = _timed(lambda q, embed=embed: embed([q]), questions)
        medians[name] = statistics.median(times)
        print(
            f"query embedding [{name:<9}] p50 {medians[name]:5.1f} p95 {pct(times, 95):5.1f} ms"
            f"  (×{medians['torch'] / medians[name]:.2f} vs torch)",
            flush=True,
        )
    return medians


def sql_baselines(db_url: str, name: str, embedder: object) -> float:
    """In this process, precomputed vectors: hybrid_search as serving runs it (a search
    session: one prepared statement on a generic plan), as any other caller runs it (its own
    transaction: BEGIN, settings, query, COMMIT), and its HNSW half alone."""
    from pressrag.resources.store import Store
    from pressrag.resources.store.search import hybrid_search

    questions = [f"{q} {v}" for v in VARIANTS[:3] for q in QUERIES]
    vectors = list(embedder.embed(questions))  # type: ignore[attr-defined]
    pairs = list(zip(questions, vectors, strict=True))
    with Store(db_url, max_size=1) as store:
        space = store.active_space()
        assert space is not None

        def run(conn) -> list[float]:  # type: ignore[no-untyped-def]
            def one(pair) -> None:  # type: ignore[no-untyped-def]
                hybrid_search(
                    conn, site_id="demo", space=space, query_text=pair[0], query_vector=pair[1]
                )

            _timed(one, pairs[:8])  # psycopg prepares after five runs
            return _timed(one, pairs)

        with store.connection() as conn:
            run(conn)  # warm the HNSW and text index pages first: whichever path ran first paid
            conn.commit()

        with store.search_connection() as conn:
            session = run(conn)
            vector_sql = VECTOR_ONLY.format(space=int(space.id), dim=space.dimension)
            vector = _timed(lambda pair: conn.execute(vector_sql, {"v": pair[1]}).fetchall(), pairs)
        with store.connection() as conn:
            conn.commit()
            transaction = run(conn)
    p50 = statistics.median(session)
    print(
        f"{name} in-process SQL: hybrid_search (search session) p50 {p50:.1f} p95 "
        f"{pct(session, 95):.1f} ms; own transaction p50 {statistics.median(transaction):.1f} "
        f"p95 {pct(transaction, 95):.1f} ms (×{statistics.median(transaction) / p50:.2f}); "
        f"HNSW half alone p50 {statistics.median(vector):.1f} ms",
        flush=True,
    )
    return p50


def hnsw_recall(db_url: str, embedder: object, questions: int, k: int = 10) -> None:
    """The HNSW half against exact nearest neighbours of the same rows, as serving runs it (its
    ef_search and iterative scan) and with 4× its ef_search: recall@k and @40 (the candidates
    the hybrid search fuses) over `questions` questions, and the index's size. The exact
    neighbours are computed here from every vector read once: an exact scan in SQL costs
    seconds a question at 1M chunks (and a prepared statement would keep the index plan)."""
    import psycopg
    from pgvector.psycopg import register_vector

    from pressrag.resources.store import Store
    from pressrag.resources.store.search import DEFAULT_EF_SEARCH
    from pressrag.resources.store.spaces import hnsw_index_name

    texts = [f"{q} {v}" for v in [*VARIANTS, *EXTRA_VARIANTS] for q in QUERIES][:questions]
    vectors = np.asarray(list(embedder.embed(texts)), dtype=np.float32)  # type: ignore[attr-defined]
    with Store(db_url, max_size=1) as store:
        space = store.active_space()
    assert space is not None
    query = VECTOR_ONLY.format(space=int(space.id), dim=space.dimension)
    approximate: dict[int, list[list[int]]] = {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        register_vector(conn)
        sizes = conn.execute(
            "SELECT pg_relation_size(%s::regclass), pg_total_relation_size('chunks')",
            (hnsw_index_name(space).as_string(conn),),
        ).fetchone()
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        for ef in (DEFAULT_EF_SEARCH, 4 * DEFAULT_EF_SEARCH):
            conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))
            approximate[ef] = [
                [r[0] for r in conn.execute(query, {"v": v}, prepare=False).fetchall()]
                for v in vectors
            ]
        t0 = time.perf_counter()
        ids, matrix = _every_vector(conn, int(space.id), space.dimension)
    exact = _exact_neighbours(ids, matrix, vectors, 40)
    print(
        f"HNSW index {sizes[0] / 2**20:.0f} MB (chunks with its indexes and TOAST "
        f"{sizes[1] / 2**20:.0f} MB); exact neighbours of {len(vectors)} questions: "
        f"{len(ids)} vectors read and compared in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    # Near-duplicates make ties: a miss may be as close to the question as the row it missed.
    row_of = {int(i): n for n, i in enumerate(ids)}
    units = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def mean_similarity(hits: list[list[int]]) -> float:
        return statistics.mean(
            float(np.mean(matrix[[row_of[i] for i in h[:k]]] @ q))
            for h, q in zip(hits, units, strict=True)
        )

    for ef, hits in approximate.items():
        pairs = list(zip(hits, exact, strict=True))
        at_k = [len(set(a[:k]) & set(e[:k])) / k for a, e in pairs]
        at_40 = [len(set(a) & set(e)) / max(1, len(e)) for a, e in pairs]
        print(
            f"  ef_search {ef}: recall@{k} mean {statistics.mean(at_k):.3f} min {min(at_k):.2f}, "
            f"@40 mean {statistics.mean(at_40):.3f} min {min(at_40):.2f}; mean cosine "
            f"similarity of the top {k}: HNSW {mean_similarity(hits):.4f} vs exact "
            f"{mean_similarity(exact):.4f}",
            flush=True,
        )


def _every_vector(conn, space_id: int, dimension: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Ids and unit vectors of the scale site's chunks, by binary COPY (fixed-size rows)."""
    row = np.dtype(
        [("fields", ">i2"), ("id_len", ">i4"), ("id", ">i8"), ("vec_len", ">i4"),
         ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dimension,))]
    )  # fmt: skip
    data = bytearray()
    sql = (
        "COPY (SELECT id, embedding::vector FROM chunks WHERE space_id = %s AND site_id = "
        "'demo') TO STDOUT (FORMAT BINARY)"
    )
    with conn.cursor().copy(sql.replace("%s", str(space_id))) as copy:
        for block in copy:
            data += block
    rows = np.frombuffer(bytes(data[len(COPY_HEADER) : -len(COPY_TRAILER)]), dtype=row)
    matrix = rows["v"].astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return rows["id"].astype(np.int64), matrix


def _exact_neighbours(
    ids: np.ndarray, matrix: np.ndarray, questions: np.ndarray, n: int
) -> list[list[int]]:
    """The `n` nearest ids by cosine distance for each question (brute force, in blocks)."""
    questions = questions / np.linalg.norm(questions, axis=1, keepdims=True)
    out = []
    for q in questions:
        similarity = matrix @ q
        top = np.argpartition(-similarity, n)[:n]
        out.append([int(i) for i in ids[top[np.argsort(-similarity[top])]]])
    return out


# ------------------------------------------------------------------ data sets
def ensure_sample(home: Path) -> str:
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_DATABASE_URL", "PRESSRAG_APP_DB_URL"):
        os.environ.pop(name, None)
    from pressrag.orchestration.environment import prepare
    from pressrag.resources.store import Store
    from pressrag.resources.store.status import site_status

    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        indexed = conn.execute("SELECT 1 FROM sites WHERE id = 'demo'").fetchone() and (
            site_status(conn, "demo")["chunks"] > 0
        )
    if not indexed:
        from pressrag.orchestration.run import index_site_now
        from pressrag.orchestration.sites import add_site

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

    from pressrag.resources.database import with_database

    scale_url = with_database(app_url, SCALE_DB)
    try:
        with psycopg.connect(scale_url) as conn:
            count = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    except psycopg.Error:
        return None
    return scale_url if count == total else None


def prewarm(db_url: str) -> None:
    """Read the chunks table, its TOAST and its indexes into memory (pg_prewarm), as a server
    that has been answering for a while has them: a reused scale set is otherwise measured
    from disk, and the first hundred questions' tail is page faults, not search."""
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        relations = conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c WHERE c.oid = 'chunks'::regclass "
            "OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'chunks'::regclass) "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'chunks'::regclass)"
        ).fetchall()
        pages = sum(
            conn.execute("SELECT pg_prewarm(%s::regclass, 'read')", (r[0],)).fetchone()[0]
            for r in relations
        )
    print(
        f"prewarmed {len(relations)} relations ({pages * 8 // 1024} MB) in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )


def build_scale(app_url: str, total: int) -> str:
    """A separate database: the sample's real chunks + synthetic ones near them."""
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg import sql

    from pressrag.resources.database import with_database
    from pressrag.resources.store import Store
    from pressrag.resources.store.spaces import ensure_hnsw_index, ensure_space, hnsw_index_name

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
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(hnsw_index_name(space)))
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
            """INSERT INTO chunks (document_id, site_id, space_id, ordinal, document_chunks,
                                   title, heading_path, text, token_count, content_hash,
                                   embedding, tsv)
               SELECT s.document_id, 'demo', %s, s.ordinal, %s, d.title, '{}', s.text,
                      s.token_count, s.content_hash, s.embedding,
                      setweight(to_tsvector('english', d.title), 'A')
                      || to_tsvector('english', s.text)
               FROM staging s JOIN documents d ON d.id = s.document_id""",
            (space.id, per_doc),
        )
        conn.execute("DROP TABLE staging")
        conn.commit()
        print(
            f"scale set: {n_docs * per_doc} chunks copied in {time.perf_counter() - t0:.0f} s; "
            "building the HNSW index ...",
            flush=True,
        )
        t1 = time.perf_counter()
        # The graph must fit, or the build slows down several times (pgvector's notice):
        # ~1.5× the vectors' bytes.
        graph_mb = int(n_docs * per_doc * dimension * 4 * 1.5 / 2**20) + 256
        conn.execute(f"SET maintenance_work_mem = '{max(1024, graph_mb)}MB'")
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
        "--recall-questions",
        type=int,
        default=200,
        help="questions for the HNSW half's recall against an exact scan (scale set; 0: none)",
    )
    parser.add_argument(
        "--gateway",
        action="store_true",
        help="only the gateway's figures (ledger overhead, cached answers) on the sample set",
    )
    parser.add_argument(
        "--backends",
        default="onnx-int8,onnx,torch",
        help="serving's question embedders to measure (the first is serving's default)",
    )
    parser.add_argument(
        "--reuse-scale", action="store_true", help="keep an existing scale database of that size"
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    home = args.home or Path(tempfile.mkdtemp(prefix="pressrag-bench-"))
    home.mkdir(parents=True, exist_ok=True)
    app_url = ensure_sample(home.resolve())
    if args.gateway:
        (home / "bench-logs").mkdir(exist_ok=True)
        quiet = {"PRESSRAG_LOG_LEVEL": "warning"}
        bench_gateway(home / "bench-logs", clients, args.duration, quiet)
        return

    from pressrag.resources.embedders.local import LocalEmbedder

    embedders = {name: LocalEmbedder(threads=1, backend=name) for name in BACKENDS}
    for embedder in embedders.values():
        embedder.load()
    logs = home / "bench-logs"
    logs.mkdir(exist_ok=True)
    limits = {"PRESSRAG_LOG_LEVEL": "warning"}
    serving_backends = args.backends.split(",")

    print("\n== query embedding (one question, one thread) ==", flush=True)
    embed_ms = embedding_baselines(embedders)

    print(f"\n== sample set ({home}) ==", flush=True)
    sql_baselines(app_url, "sample", embedders["onnx"])
    backend = serving_backends[0]
    with ServingServer(logs / "sample.log", PRESSRAG_EMBED_BACKEND=backend, **limits) as server:
        bench_server(server, app_url, f"sample [{backend}]", clients, args.duration)

    if args.no_scale:
        return
    print(f"\n== scale set ({args.scale} chunks) ==", flush=True)
    scale_url = existing_scale(app_url, args.scale) if args.reuse_scale else None
    scale_url = scale_url or build_scale(app_url, args.scale)
    prewarm(scale_url)
    sql_p50 = sql_baselines(scale_url, "scale", embedders["onnx"])
    if args.recall_questions > 0:  # 0 skips it (reading every vector takes a while at 1M)
        hnsw_recall(scale_url, embedders["onnx"], args.recall_questions)
    for name in serving_backends:
        print(
            f"scale [{name}]: query embedding / SQL ratio {embed_ms[name] / sql_p50:.2f} "
            f"(torch: {embed_ms['torch'] / sql_p50:.2f})",
            flush=True,
        )
        env = {"PRESSRAG_APP_DB_URL": scale_url, "PRESSRAG_EMBED_BACKEND": name, **limits}
        with ServingServer(logs / f"scale-{name}.log", **env) as server:
            bench_server(server, scale_url, f"scale [{name}]", clients, args.duration)


if __name__ == "__main__":
    random.seed(7)
    main()
