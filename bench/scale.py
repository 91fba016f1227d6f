"""Platform throughput benchmark (issue #11): documents/s through Dagster, CPU, where time goes.

    .venv/bin/python bench/scale.py [--documents 5000] [--local-documents 400] [--profile]
                                    [--celery-documents 1000] [--baseline] [--seeded-vectors]
                                    [--embed-latency MS]

A synthetic site (`--documents` posts and pages of 2–6 sections, each a heading and one or
two paragraphs of English words drawn at random, so every chunk is new text and the
embedding cache cannot help) is served over real HTTP by the fake WordPress
(`tests/support/fake_wordpress.py`), in a process of its own with the fake OpenAI API, so
their CPU is counted apart from PressRAG's. Each embedder is measured in its own process and
its own PRESSRAG_HOME (an index belongs to one embedding space), with the embedded
PostgreSQL, indexing through `dg.materialize` of the indexing assets and checks (as
`pressrag index` does, in process):

- **~0-cost embedder**: the project's OpenAI embedder pointed at the fake API, over HTTP:
  this measures the platform. Its vectors (384 dimensions) are the mean of
  all-MiniLM-L6-v2's vectors of each text's words (`bench/word_vectors.py`), so the HNSW
  index costs what a text model's vectors cost it; `--seeded-vectors` first indexes with
  the fake's own vectors, seeded by a hash of each text (uniformly random: HNSW's worst
  case, what this benchmark used before), and prints the ratio;
- **local model**: all-MiniLM-L6-v2 as indexing runs it (ONNX), on the first
  `--local-documents` documents of the same site.

For each it prints documents, chunks, wall seconds, documents/s, chunks/s, CPU seconds of the
indexing process (+ its child processes: `getrusage` and /proc), of the PostgreSQL server and
of the fakes, CPU efficiency = CPU seconds / (wall × cores); where the time goes, per step, from the
assets' own `duration_seconds` / `embedding_duration_seconds` metadata, the Dagster event
log's step start/end and the time spent in PostgreSQL calls (psycopg's `Connection.wait`:
round trips, server work and parameter adaptation); the embedder alone on the same texts;
and a re-run on unchanged content (must embed nothing).

Celery rows (`--celery-documents`, default 1000, 0 skips them): the first N documents of the
same site, each row in a home of its own, indexed in process and then with 1, 2 and 4
`pressrag celery-worker` processes on a real Redis (`redis-server` on a loopback port), the
run's process submitting the steps as a code location's run does; shards of a quarter of
the documents (`--celery-shard-documents`), the `embeddings` pool set to the number of
workers. Docs/s are over the Dagster run (start to success).

`--baseline` first indexes the site with the ~0-cost embedder as PressRAG did before a large
load built its HNSW index once after the inserts: every chunk inserted into the graph. It
prints that run's figures and the ratio of documents/s.

`--embed-latency MS` makes the fake embeddings API answer each request after MS
milliseconds, as a remote endpoint's round trip does (the ~0-cost embedder is then an
embedder that costs only its latency). A first index with one request at a time
(`PRESSRAG_OPENAI_EMBED_CONCURRENCY=1`) runs first, and the ratio of documents/s is printed.

`--profile` indexes the synthetic site once more with the ~0-cost embedder, in a fresh home,
under cProfile, and prints the top functions by own time and by cumulative time.

A run's figures, what each means and what did not meet the target: docs/performance.md.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from pressrag.resources.embedders import Embedder

SITE = "scale"
DIMENSION = 384  # as all-MiniLM-L6-v2: the same bytes to write per vector
TARGET_DOCS_PER_SECOND = 200.0
STEPS = ["wp_documents", "wp_media", "extracted_text", "chunks", "embeddings"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ the synthetic site
def vocabulary() -> list[str]:
    """Real English words (from the shipped sample site), so word pieces per word are
    realistic: invented words would cost the tokenizer several pieces each."""
    text = (REPO / "samples" / "pydocs" / "export.xml").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", text)
    words = sorted({w.lower() for w in re.findall(r"\b[a-zA-Z]{3,12}\b", text)})
    return words


def synthetic_post(wp_id: int, words: list[str]) -> dict:
    """One post (every tenth a page): a title, 2–6 sections of an <h2> and one or two
    paragraphs of 3–7 sentences, with a category and tags. Seeded by the id."""
    rng = random.Random(wp_id)

    def sentence() -> str:
        picked = rng.choices(words, k=rng.randint(8, 18))
        return " ".join(picked).capitalize() + "."

    sections = []
    for n in range(rng.randint(2, 6)):
        heading = " ".join(rng.choices(words, k=rng.randint(2, 5))).capitalize()
        paragraphs = "".join(
            "<p>" + " ".join(sentence() for _ in range(rng.randint(3, 7))) + "</p>\n"
            for _ in range(rng.randint(1, 2))
        )
        sections.append(f"<h2>{heading} {n + 1}</h2>\n{paragraphs}")
    return {
        "id": wp_id,
        "type": "page" if wp_id % 10 == 0 else "post",
        "title": " ".join(rng.choices(words, k=rng.randint(3, 8))).capitalize() + f" ({wp_id})",
        "content": "\n".join(sections),
        "excerpt": "",
        "author": rng.choice(["Ada", "Grace", "Linus", "Guido"]),
        "terms": {
            "category": [rng.choice(["news", "guides", "reference", "notes"])],
            "post_tag": rng.sample(["python", "web", "data", "search", "howto", "tips"], k=2),
        },
    }


def serve_fakes(
    documents: int, local_documents: int, celery_documents: int, embed_latency: float
) -> None:
    """Child process: a fake WordPress with `documents` posts, one with the first
    `local_documents` of them, one with the first `celery_documents`, and two fake OpenAI
    APIs (vectors from the model's word vectors, answering each request after `embed_latency`
    seconds, and the fake's own seeded ones); prints their URLs, serves until stdin closes."""
    from bench.word_vectors import WordMeanVectors
    from tests.support.fake_openai import FakeOpenAI
    from tests.support.fake_wordpress import FakeWordPress

    words = vocabulary()
    with (
        FakeWordPress() as big,
        FakeWordPress() as small,
        FakeWordPress() as mid,
        FakeOpenAI(
            vectors=WordMeanVectors.from_model(words), embeddings_latency=embed_latency
        ) as openai,
        FakeOpenAI() as seeded,
    ):
        # The request log would grow with every embeddings request (bodies included).
        openai.requests = seeded.requests = _Discard()
        words_total = 0
        for wp_id in range(1, documents + 1):
            post = synthetic_post(wp_id, words)
            words_total += len(re.sub(r"<[^>]+>", " ", post["content"]).split())
            big.upsert(post)
            if wp_id <= local_documents:
                small.upsert(post)
            if wp_id <= celery_documents:
                mid.upsert(post)
        print(
            json.dumps(
                {
                    "big": big.base_url,
                    "small": small.base_url,
                    "celery": mid.base_url,
                    "openai": openai.base_url,
                    "openai_seeded": seeded.base_url,
                    "words_per_document": words_total / max(documents, 1),
                }
            ),
            flush=True,
        )
        sys.stdin.read()


class _Discard(list):
    def append(self, item: object) -> None:
        pass


# ------------------------------------------------------------------ CPU accounting
def proc_cpu(pid: int) -> tuple[float, float]:
    """(own CPU s, CPU s of reaped children) of a process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def postmaster_pid(pgdata: Path) -> int:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def postgres_cpu(pgdata: Path) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster, its live backends and workers,
    and those it has reaped (their time is in the postmaster's children counters)."""
    postmaster = postmaster_pid(pgdata)
    if not postmaster:
        return 0.0
    own, reaped = proc_cpu(postmaster)
    total = own + reaped
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            total += sum(proc_cpu(int(entry.name)))
    return total


def descendants_cpu(root: int, outside: set[int]) -> float:
    """CPU seconds of the live processes below `root` (and of those they reaped), leaving out
    the trees of `outside` (a PostgreSQL or fake server this process started). The text and
    chunking workers and the media worker are the forkserver's children, which this process
    reaps only at its end: `getrusage` of its children would miss them."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    below: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in outside:
                below.append(pid)
                frontier.append(pid)
    return sum(sum(proc_cpu(pid)) for pid in below)


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


class Meter:
    """Wall and CPU seconds of one measured interval, by who spent them."""

    def __init__(self, pgdata: Path, fakes_pid: int) -> None:
        self.pgdata, self.fakes_pid = pgdata, fakes_pid

    def _sample(self) -> dict[str, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, _ = machine_cpu()
        return {
            "wall": time.perf_counter(),
            "process": me.ru_utime + me.ru_stime,
            "children": kids.ru_utime
            + kids.ru_stime
            + descendants_cpu(os.getpid(), {self.fakes_pid, postmaster_pid(self.pgdata)}),
            "postgres": postgres_cpu(self.pgdata),
            "fakes": sum(proc_cpu(self.fakes_pid)),
            "machine": busy,
        }

    def __enter__(self) -> Meter:
        self.start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        self.delta = {k: end[k] - self.start[k] for k in end}


# ------------------------------------------------------------------ time in PostgreSQL
class SqlClock:
    """Records every psycopg `Connection.wait` (each statement, commit, savepoint, pool
    check) as (start, seconds), in every thread, to split a step's time into SQL and the
    rest. Dagster's own storage speaks psycopg2, so it is not counted here."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, float]] = []

    def install(self) -> None:
        import psycopg

        original = psycopg.Connection.wait
        calls = self.calls

        def wait(conn, gen, *args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.time()
            t0 = time.perf_counter()
            try:
                return original(conn, gen, *args, **kwargs)
            finally:
                calls.append((start, time.perf_counter() - t0))

        psycopg.Connection.wait = wait  # type: ignore[method-assign]

    def within(self, start: float, end: float) -> tuple[float, int]:
        """Wall seconds in which at least one connection waited on PostgreSQL (statements of
        several threads at once count once: `publish` uses two connections), and the calls."""
        inside = sorted((t, t + s) for t, s in self.calls if start <= t < end)
        covered, reach = 0.0, float("-inf")
        for begin, finish in inside:
            if finish > reach:
                covered += finish - max(begin, reach)
                reach = finish
        return covered, len(inside)


class AssetTimers:
    """Records the (start, end) of every `timed()` block, the timer behind each indexing
    asset's `duration_seconds`, so SQL inside it can be told from SQL around it; and the
    process's CPU seconds inside each (`spans`: module name, start, end, CPU s), so a loaded
    machine's wall time can be told from the work. `workers_cpu`, when given, adds the CPU
    of the stages' worker processes (`descendants_cpu`) to each span's."""

    def __init__(self, workers_cpu: Callable[[], float] | None = None) -> None:
        self.windows: list[tuple[float, float]] = []
        self.spans: list[tuple[str, float, float, float]] = []
        self.workers_cpu = workers_cpu or (lambda: 0.0)

    def install(self) -> None:
        from pressrag.assets.indexing import chunking, documents, embeddings, text

        windows, spans, workers_cpu = self.windows, self.spans, self.workers_cpu
        for module in (chunking, documents, embeddings, text):
            original = module.timed
            name = module.__name__.rsplit(".", 1)[1]

            @contextmanager
            def recording(original=original, name=name):  # type: ignore[no-untyped-def]
                start, cpu_start = time.time(), time.process_time() + workers_cpu()
                try:
                    with original() as box:
                        yield box
                finally:
                    end = time.time()
                    windows.append((start, end))
                    cpu = time.process_time() + workers_cpu() - cpu_start
                    spans.append((name, start, end, cpu))

            module.timed = recording  # type: ignore[assignment]

    def within(self, start: float, end: float) -> list[tuple[float, float]]:
        return [(a, b) for a, b in self.windows if start <= a < end]


# ------------------------------------------------------------------ one phase
def step_windows(run_id: str) -> dict[str, tuple[float, float]]:
    """Step key -> (start, end) timestamps from the run's event log; "run" is the whole."""
    import dagster as dg

    windows: dict[str, list[float]] = {}
    with dg.DagsterInstance.get() as instance:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None:
                continue
            kind = event.event_type_value
            key = event.step_key or "run"
            if kind in ("STEP_START", "RUN_START"):
                windows.setdefault(key, [entry.timestamp, entry.timestamp])[0] = entry.timestamp
            elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "RUN_SUCCESS", "RUN_FAILURE"):
                windows.setdefault(key, [entry.timestamp, entry.timestamp])[1] = entry.timestamp
    return {k: (v[0], v[1]) for k, v in windows.items()}


def asset_windows(windows: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """A sharded asset's steps (`chunks.plan_chunking`, `chunks.chunk_shard[all]`, …) as one
    window, from its first step's start to its last step's end, keyed by the asset."""
    merged: dict[str, tuple[float, float]] = {}
    for key, (start, end) in windows.items():
        asset = key.split(".")[0]
        if asset in merged:
            start, end = min(start, merged[asset][0]), max(end, merged[asset][1])
        merged[asset] = (start, end)
    return merged


def index_once(
    meter_args: tuple[Path, int],
    sql: SqlClock,
    timers: AssetTimers,
    profile: Path | None,
    site: str = SITE,
) -> dict:
    """Index `site` once through Dagster in process: counts, CPU and per-step figures."""
    from tests.support.indexing import asset_metadata, materialize_site

    calls_before = len(sql.calls)
    profiler = cProfile.Profile() if profile else None
    began = time.time()
    with Meter(*meter_args) as meter:
        if profiler:
            profiler.enable()
        result = materialize_site(site)
        if profiler:
            profiler.disable()
    ended = time.time()
    if not result.success:
        raise SystemExit(f"indexing {site} failed; see the log of this phase")
    if profiler and profile:
        profiler.dump_stats(str(profile))
    meta = {s: asset_metadata(result, s) for s in STEPS}
    windows = asset_windows(step_windows(result.run_id))
    steps = {}
    for key, (start, end) in sorted(windows.items(), key=lambda kv: kv[1][0]):
        sql_seconds, sql_calls = sql.within(start, end)
        timed_sql = [sql.within(a, b)[0] for a, b in timers.within(start, end)]
        own = meta.get(key, {})
        steps[key] = {
            "step_seconds": end - start,
            "asset_seconds": own.get("duration_seconds"),
            "embedding_seconds": own.get("embedding_duration_seconds"),
            "sql_seconds": sql_seconds,
            "sql_calls": sql_calls,
            "sql_in_asset_seconds": sum(timed_sql) if timed_sql else None,
        }
    all_sql, all_calls = sql.within(began, ended)
    emb = meta["embeddings"]
    return {
        "documents": sum(int(meta[s]["added"]) + int(meta[s]["updated"]) for s in STEPS[:2]),
        "documents_indexed": int(emb["documents_indexed"]),
        "chunks": int(emb["chunks_written"]),
        "chunks_embedded": int(emb["chunks_embedded"]),
        "tokens_embedded": int(emb["tokens_embedded"]),
        "hnsw_build_seconds": emb.get("hnsw_build_seconds"),
        "cpu": meter.delta,
        "steps": steps,
        "sql_seconds": all_sql,
        "sql_calls": all_calls,
        "sql_calls_recorded": len(sql.calls) - calls_before,
    }


def indexing_embedder() -> Embedder:
    """The embedder of an indexing run, configured as Dagster configures it (the OpenAI key
    read from the environment at that moment); the local model is the very object an
    in-process run embeds with."""
    from pressrag.resources.dagster_resources import EmbedderResource
    from pressrag.resources.settings import get_settings

    configured = EmbedderResource.from_settings(get_settings(), preload=False)
    with configured.process_config_and_initialize_cm() as ready:
        return ready.get()


def chunk_texts() -> list[str]:
    """The texts the pipeline embedded, rebuilt from the stored extracted text."""
    from pressrag.assets.transforms.chunking import chunk_document
    from pressrag.resources.settings import get_settings
    from pressrag.resources.store import Store

    settings = get_settings()
    model = indexing_embedder()
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        rows = c.execute(
            "SELECT title, extracted_text FROM documents WHERE site_id = %s "
            "AND visibility = 'public' ORDER BY id",
            (SITE,),
        ).fetchall()
    return [
        draft.embed_text
        for title, text in rows
        for draft in chunk_document(
            title,
            text or "",
            count_tokens=model.count_tokens,
            max_tokens=model.max_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
            target_tokens=settings.chunk_target_tokens,
        )
    ]


def phase(args: argparse.Namespace) -> None:
    """Child process: one embedder, one home; writes its figures as JSON to `args.out`."""
    home = Path(args.home)
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_APP_DB_URL", "PRESSRAG_DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    if args.phase in ("zero", "profile"):
        os.environ.update(
            PRESSRAG_EMBEDDER="openai",
            PRESSRAG_OPENAI_BASE_URL=args.openai,
            PRESSRAG_OPENAI_API_KEY="sk-bench-not-a-key",
            PRESSRAG_OPENAI_EMBED_DIMENSIONS=str(DIMENSION),
        )
    else:
        os.environ["PRESSRAG_EMBEDDER"] = "local"
    from pressrag.assets.indexing.embeddings import embed_by_length
    from pressrag.orchestration.environment import prepare
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.settings import get_settings

    get_settings.cache_clear()
    prepare()
    add_site(SITE, url=args.wordpress)
    model = indexing_embedder()
    model.embed(["warm up: load the model and open the connection before timing"])
    meter_args = (home / "pgdata", args.fakes_pid)
    sql = SqlClock()
    sql.install()
    timers = AssetTimers()
    timers.install()
    profile = home / "index.prof" if args.phase == "profile" else None
    first = index_once(meter_args, sql, timers, profile)
    out: dict = {"model": model.model_id, "first": first}
    if args.phase != "profile":
        texts = chunk_texts()
        with Meter(*meter_args) as alone:
            embed_by_length(model, texts, lambda n: None)
        out["embedder_alone"] = {"texts": len(texts), "cpu": alone.delta}
        out["rerun"] = index_once(meter_args, sql, timers, None)
    else:
        out["profile"] = str(profile)
    Path(args.out).write_text(json.dumps(out), encoding="utf-8")


def worker_cpu(pids: list[int]) -> float:
    """CPU seconds of the workers and every process under them (their pool processes)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    family, grew = set(pids), True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return sum(sum(proc_cpu(pid)) for pid in family)


def celery_phase(args: argparse.Namespace) -> None:
    """Child process: the Celery-row site indexed with `args.workers` Celery workers (0: in
    process, the same site and shards, for comparison); figures as JSON to `args.out`."""
    home = Path(args.home)
    os.environ["PRESSRAG_HOME"] = str(home)
    for name in ("DATABASE_URL", "PRESSRAG_APP_DB_URL", "PRESSRAG_DAGSTER_PG_URL", "DAGSTER_HOME"):
        os.environ.pop(name, None)
    os.environ.update(
        PRESSRAG_EMBEDDER="openai",
        PRESSRAG_OPENAI_BASE_URL=args.openai,
        PRESSRAG_OPENAI_API_KEY="sk-bench-not-a-key",
        PRESSRAG_OPENAI_EMBED_DIMENSIONS=str(DIMENSION),
        PRESSRAG_INDEX_SHARD_DOCUMENTS=str(args.shard_documents),
    )
    import dagster as dg

    from pressrag.orchestration.environment import prepare
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.settings import get_settings
    from pressrag.resources.store import Store
    from tests.support.celery_workers import celery_workers
    from tests.support.indexing import materialize_site
    from tests.support.redis_server import redis_server

    get_settings.cache_clear()
    urls = prepare()
    add_site(SITE, url=args.wordpress)
    meter_args = (home / "pgdata", args.fakes_pid)
    workers_cpu = 0.0
    if args.workers == 0:
        with Meter(*meter_args) as meter:
            result = materialize_site(SITE)
        if not result.success:
            raise SystemExit(f"indexing {SITE} failed")
        run_id = result.run_id
    else:
        names = tuple(f"w{n}" for n in range(1, args.workers + 1))
        with redis_server(home / "redis") as broker:
            celery = {"PRESSRAG_EXECUTOR": "celery", "PRESSRAG_CELERY_BROKER_URL": broker}
            worker_env = {
                **os.environ,
                **celery,
                "DATABASE_URL": urls.app,
                "PRESSRAG_DAGSTER_DATABASE_URL": urls.dagster,
                "PRESSRAG_EMBEDDED_DATABASE": "0",
            }
            with celery_workers(names, worker_env, home) as pids:
                with dg.DagsterInstance.get() as instance:
                    # One embedding shard per worker at once: the ~0-cost embedder is no
                    # scarce resource (the pool's default of 1 is for the local model).
                    instance.event_log_storage.set_concurrency_slots("embeddings", args.workers)
                before = worker_cpu(list(pids.values()))
                with Meter(*meter_args) as meter:
                    run = subprocess.run(
                        [sys.executable, "-m", "tests.support.celery_run", SITE],
                        env={**os.environ, **celery},
                        cwd=REPO,
                        capture_output=True,
                        text=True,
                    )
                workers_cpu = worker_cpu(list(pids.values())) - before
            if run.returncode != 0:
                raise SystemExit(f"celery run failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}")
            run_id = run.stdout.split()[-1]
    with dg.DagsterInstance.get() as instance:
        stats = instance.get_run_stats(run_id)
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        documents, indexed = c.execute(
            "SELECT count(*), count(*) FILTER (WHERE indexed_hash = content_hash) "
            "FROM documents WHERE site_id = %s",
            (SITE,),
        ).fetchone()
        chunks = c.execute("SELECT count(*) FROM chunks WHERE site_id = %s", (SITE,)).fetchone()[0]
    out = {
        "workers": args.workers,
        "documents": documents,
        "indexed": indexed,
        "chunks": chunks,
        "run_seconds": stats.end_time - stats.start_time,
        "cpu": meter.delta,
        "workers_cpu": workers_cpu,
    }
    Path(args.out).write_text(json.dumps(out), encoding="utf-8")


# ------------------------------------------------------------------ the parent: report
# The baseline arm's setting: no load is large enough to build the index after it.
GRAPH_INSERTS = {"PRESSRAG_BULK_INDEX_MIN_CHUNKS": str(10**9)}
ONE_REQUEST = {"PRESSRAG_OPENAI_EMBED_CONCURRENCY": "1"}


def run_phase(
    name: str,
    wordpress: str,
    openai: str,
    fakes_pid: int,
    work: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> dict | None:
    home = work / name
    home.mkdir()
    out = work / f"{name}.json"
    log = work / f"{name}.log"
    phase = name.split("-")[0]
    cmd = [sys.executable, __file__, "--phase", phase, "--home", str(home), "--out", str(out)]
    cmd += ["--wordpress", wordpress, "--openai", openai, "--fakes-pid", str(fakes_pid), *extra]
    print(f"… {name}: indexing (log: {log})", flush=True)
    with log.open("w") as handle:
        code = subprocess.call(
            cmd,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={**os.environ, **(env or {})},
        )
    if code != 0 or not out.exists():
        print(f"!! phase {name} failed (exit {code}); last lines of {log}:")
        print("".join(log.read_text(errors="replace").splitlines(True)[-30:]))
        return None
    return json.loads(out.read_text())


def cpu_line(cpu: dict, cores: int) -> str:
    wall = cpu["wall"]
    mine = cpu["process"] + cpu["children"]
    with_pg = mine + cpu["postgres"]
    others = max(0.0, cpu["machine"] - with_pg - cpu["fakes"])
    return (
        f"CPU s: indexing process {cpu['process']:.1f} + its child processes "
        f"{cpu['children']:.1f}, "
        f"PostgreSQL {cpu['postgres']:.1f}, fakes {cpu['fakes']:.1f}, other processes "
        f"{others:.1f}\nCPU efficiency = CPU s / (wall × {cores} cores): indexing process "
        f"{mine / (wall * cores):.0%}, with PostgreSQL {with_pg / (wall * cores):.0%}"
    )


# Where a step's time goes when it is not SQL or embedding.
WORK = {
    "wp_documents": "listing (REST + parsing)",
    "wp_media": "listing (REST + parsing)",
    "extracted_text": "extraction (HTML → text)",
    "chunks": "chunking (tokenizer)",
    "embeddings": "embeddings step, rest",
}


def print_phase(label: str, figures: dict, cores: int) -> float:
    first = figures["first"]
    cpu = first["cpu"]
    wall = cpu["wall"]
    docs = first["documents"]
    rate = docs / wall
    print(f"\n== {label} — {figures['model']}")
    print(
        f"{docs} documents ({first['documents_indexed']} indexed), {first['chunks']} chunks "
        f"({first['chunks_embedded']} embedded, {first['tokens_embedded']} tokens): "
        f"{wall:.2f} s wall, {rate:.1f} docs/s, {first['chunks'] / wall:.1f} chunks/s"
    )
    print(cpu_line(cpu, cores))
    print(
        "per step (s): step = Dagster STEP_START→STEP_SUCCESS; asset = its duration_seconds; "
        "embed = embedding_duration_seconds;\n  SQL = in psycopg calls (statements, commits, "
        "savepoints) within the asset's timer, SQL+ = in the step around it;\n  work = asset − "
        "embed − SQL; outside = step − asset"
    )
    print(
        f"  {'step':<42}{'step':>7}{'asset':>7}{'embed':>7}{'SQL':>7}{'SQL+':>7}{'calls':>7}"
        f"{'work':>7}{'outside':>8}"
    )
    steps = first["steps"]
    summed_asset = checks = 0.0
    categories: dict[str, float] = {}
    for key, s in steps.items():
        if key == "run":
            continue
        asset = s["asset_seconds"]
        embed = s["embedding_seconds"] or 0.0
        work = outside = sql_in = sql_around = None
        if asset is not None:
            summed_asset += asset
            sql_in = s["sql_in_asset_seconds"] or 0.0
            sql_around = s["sql_seconds"] - sql_in
            work = asset - embed - sql_in
            outside = s["step_seconds"] - asset
            categories[WORK[key]] = categories.get(WORK[key], 0.0) + work
            categories["SQL (reads and writes)"] = (
                categories.get("SQL (reads and writes)", 0.0) + sql_in
            )
            if embed:
                categories["embedding"] = embed
        else:
            checks += s["step_seconds"]

        def cell(value: float | None, width: int = 7) -> str:
            return f"{value:{width}.2f}" if value is not None else f"{'-':>{width}}"

        print(
            f"  {key:<42}{cell(s['step_seconds'])}{cell(asset)}"
            f"{cell(s['embedding_seconds'])}{cell(sql_in if asset is not None else None)}"
            f"{cell(sql_around if asset is not None else s['sql_seconds'])}{s['sql_calls']:7d}"
            f"{cell(work)}{cell(outside, 8)}"
        )
    overhead = wall - summed_asset
    around = sum(
        s["sql_seconds"] - (s["sql_in_asset_seconds"] or 0.0)
        for s in steps.values()
        if s["asset_seconds"] is not None
    )
    framework = overhead - checks - around
    categories["asset checks"] = checks
    categories["SQL around the assets' timers"] = around
    categories["Dagster itself"] = framework
    print(
        f"  Dagster overhead = wall − Σ asset durations = {wall:.2f} − {summed_asset:.2f} = "
        f"{overhead:.2f} s: asset checks {checks:.2f}, PressRAG's SQL around the assets' "
        f"timers {around:.2f}, Dagster itself (run and step start/finish, event log, "
        f"resources) {framework:.2f}"
    )
    print("where the time goes:")
    for name, seconds in sorted(categories.items(), key=lambda kv: -kv[1]):
        share, per_doc = seconds / wall, 1000 * seconds / docs
        print(f"  {name:<31}{seconds:8.2f} s {share:5.0%}  {per_doc:7.2f} ms/doc")
    alone = figures["embedder_alone"]
    acpu = alone["cpu"]
    emb = steps["embeddings"]["embedding_seconds"] or 0.0
    print(
        f"embedder alone, the same {alone['texts']} texts: {acpu['wall']:.2f} s "
        f"({alone['texts'] / acpu['wall']:.0f} texts/s; in the run: {emb:.2f} s); CPU s: "
        f"this process {acpu['process']:.1f}, fakes {acpu['fakes']:.1f}"
    )
    build = first.get("hnsw_build_seconds")
    print(
        f"HNSW index: built once after the load in {build:.2f} s (within the embeddings step)"
        if build is not None
        else "HNSW index: every chunk inserted into the graph"
    )
    rerun = figures["rerun"]
    print(
        f"re-run on unchanged content: {rerun['cpu']['wall']:.2f} s, chunks embedded "
        f"{rerun['chunks_embedded']}, documents changed {rerun['documents']}"
    )
    return rate


def print_profile(path: str, top: int) -> None:
    stats = pstats.Stats(path)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\n== profile of the ~0-cost run under cProfile ({total:.1f} s profiled; {path})")
    for key, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
        print(f"top {top} by {title}:")
        print(f"  {'own s':>8}{'cum s':>8}{'calls':>10}  function")
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2 if key == "tottime" else 3])  # type: ignore[attr-defined]
        for (file, line, func), (_, ncalls, tt, ct, _) in list(reversed(rows))[:top]:
            where = file.replace(str(REPO) + "/", "").replace(sys.prefix + "/", "")
            where = re.sub(r"^lib/python3\.\d+/site-packages/", "", where)
            print(f"  {tt:8.2f}{ct:8.2f}{ncalls:10d}  {func} ({where}:{line})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=5000, help="synthetic site size")
    parser.add_argument(
        "--local-documents", type=int, default=400, help="documents for the local model"
    )
    parser.add_argument(
        "--celery-documents",
        type=int,
        default=1000,
        help="documents for the Celery rows (0: skip them)",
    )
    parser.add_argument(
        "--celery-shard-documents",
        type=int,
        help="PRESSRAG_INDEX_SHARD_DOCUMENTS of the Celery rows (default: a quarter of them)",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="first index the site with every chunk inserted into the HNSW graph, as before "
        "the index was built after a large load (PRESSRAG_BULK_INDEX_MIN_CHUNKS out of reach)",
    )
    parser.add_argument(
        "--seeded-vectors",
        action="store_true",
        help="first index the site with the fake API's own vectors (seeded by a hash of each "
        "text: uniformly random, HNSW's worst case), as this benchmark did before",
    )
    parser.add_argument(
        "--embed-latency",
        type=float,
        default=0.0,
        help="milliseconds the fake embeddings API waits before each answer, as a remote "
        "endpoint's round trip does; when set, a first index with one request at a time "
        "(PRESSRAG_OPENAI_EMBED_CONCURRENCY=1) runs first as the baseline",
    )
    parser.add_argument("--profile", action="store_true", help="also profile a ~0-cost run")
    parser.add_argument("--top", type=int, default=25, help="profile rows to print")
    parser.add_argument("--keep", action="store_true", help="keep the homes and logs")
    # Internal: the child processes.
    parser.add_argument(
        "--phase", choices=["zero", "local", "profile", "celery"], help=argparse.SUPPRESS
    )
    parser.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--shard-documents", type=int, default=500, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    for name in ("--home", "--out", "--wordpress", "--openai"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--fakes-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes:
        serve_fakes(
            args.documents, args.local_documents, args.celery_documents, args.embed_latency / 1000
        )
        return
    if args.phase == "celery":
        celery_phase(args)
        return
    if args.phase:
        phase(args)
        return

    cores = os.cpu_count() or 1
    load_before = os.getloadavg()
    print(
        f"machine: {cores} cores, load average {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f} (1/5/15 min) before"
    )
    work = Path(tempfile.mkdtemp(prefix="pressrag-scale-"))
    fakes = subprocess.Popen(
        [
            *(sys.executable, __file__, "--serve-fakes", "--documents", str(args.documents)),
            *("--local-documents", str(min(args.local_documents, args.documents))),
            *("--celery-documents", str(min(args.celery_documents, args.documents))),
            *("--embed-latency", str(args.embed_latency)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    results: dict[str, dict | None] = {}
    try:
        assert fakes.stdout is not None
        urls = json.loads(fakes.stdout.readline())
        print(
            f"synthetic site: {args.documents} documents (~{urls['words_per_document']:.0f} "
            f"words each) on a fake WordPress; the local model indexes the first "
            f"{min(args.local_documents, args.documents)}"
        )
        if args.baseline:
            results["zero-inserts"] = run_phase(
                "zero-inserts", urls["big"], urls["openai"], fakes.pid, work, env=GRAPH_INSERTS
            )
        if args.seeded_vectors:
            results["zero-seeded"] = run_phase(
                "zero-seeded", urls["big"], urls["openai_seeded"], fakes.pid, work
            )
        if args.embed_latency > 0:
            results["zero-sequential"] = run_phase(
                "zero-sequential", urls["big"], urls["openai"], fakes.pid, work, env=ONE_REQUEST
            )
        results["zero"] = run_phase("zero", urls["big"], urls["openai"], fakes.pid, work)
        if args.local_documents > 0:
            results["local"] = run_phase("local", urls["small"], urls["openai"], fakes.pid, work)
        if args.profile:
            results["profile"] = run_phase("profile", urls["big"], urls["openai"], fakes.pid, work)
        celery_documents = min(args.celery_documents, args.documents)
        shard = args.celery_shard_documents or max(1, -(-celery_documents // 4))
        for workers in (0, 1, 2, 4) if celery_documents else ():
            results[f"celery-{workers}"] = run_phase(
                f"celery-{workers}",
                urls["celery"],
                urls["openai"],
                fakes.pid,
                work,
                *("--workers", str(workers), "--shard-documents", str(shard)),
            )
    finally:
        if fakes.stdin:
            fakes.stdin.close()
        fakes.wait(timeout=30)
    zero_rate = baseline_rate = seeded_rate = sequential_rate = None
    latency = f", {args.embed_latency:g} ms a request" if args.embed_latency else ""
    if results.get("zero-inserts"):
        baseline_rate = print_phase(
            "baseline: ~0-cost embedder, every chunk inserted into the HNSW graph",
            results["zero-inserts"],
            cores,
        )
    if results.get("zero-seeded"):
        seeded_rate = print_phase(
            "~0-cost embedder with the fake's seeded vectors (uniformly random)",
            results["zero-seeded"],
            cores,
        )
    if results.get("zero-sequential"):
        sequential_rate = print_phase(
            f"baseline: fake OpenAI API{latency}, one request at a time",
            results["zero-sequential"],
            cores,
        )
    if results.get("zero"):
        label = f"fake OpenAI API{latency}" if latency else "~0-cost embedder (fake OpenAI API)"
        zero_rate = print_phase(label, results["zero"], cores)
    if zero_rate and sequential_rate:
        from pressrag.resources.settings import Settings

        print(
            f"\nfake OpenAI API{latency}: {zero_rate:.1f} docs/s with "
            f"{Settings().openai_embed_concurrency} requests in flight "
            f"against {sequential_rate:.1f} with one at a time (×{zero_rate / sequential_rate:.2f})"
        )
    if zero_rate and seeded_rate:
        print(
            f"\n~0-cost embedder: {zero_rate:.1f} docs/s with the model's word vectors against "
            f"{seeded_rate:.1f} with seeded random ones (×{zero_rate / seeded_rate:.2f})"
        )
    if zero_rate and baseline_rate:
        print(
            f"\n~0-cost embedder: {zero_rate:.1f} docs/s against {baseline_rate:.1f} with every "
            f"chunk inserted into the graph (×{zero_rate / baseline_rate:.2f})"
        )
    if results.get("local"):
        print_phase("local model", results["local"], cores)
    print("\n== executors (documents/s, CPU efficiency)")
    rows = [("in-process", results.get("zero"), results.get("local"))]
    print(f"  {'executor':<22}{'~0-cost embedder':>28}{'local model':>28}")
    for name, zero, local in rows:
        cells = []
        for figures in (zero, local):
            if not figures:
                cells.append(f"{'not run':>28}")
                continue
            cpu = figures["first"]["cpu"]
            rate = figures["first"]["documents"] / cpu["wall"]
            eff = (cpu["process"] + cpu["children"]) / (cpu["wall"] * cores)
            cells.append(f"{f'{rate:.1f} docs/s, {eff:.0%}':>28}")
        print(f"  {name:<22}" + "".join(cells))
    if celery_documents:
        print(
            f"\n== Celery rows: the first {celery_documents} documents, shards of {shard} "
            "documents, ~0-cost embedder, `embeddings` pool = workers; docs/s over the Dagster "
            "run (RUN_START→RUN_SUCCESS); CPU s of the run's process (+ children), the workers "
            "(+ their pool processes) and PostgreSQL"
        )
        print(f"  {'executor':<26}{'docs/s':>8}{'run s':>8}{'run CPU':>9}{'workers':>9}{'PG':>7}")
        for workers in (0, 1, 2, 4):
            figures = results.get(f"celery-{workers}")
            name = f"Celery, {workers} worker(s)" if workers else "in-process (same site)"
            if not figures:
                print(f"  {name:<26}{'failed':>8}")
                continue
            cpu = figures["cpu"]
            rate = figures["indexed"] / figures["run_seconds"]
            print(
                f"  {name:<26}{rate:8.1f}{figures['run_seconds']:8.1f}"
                f"{cpu['process'] + cpu['children']:9.1f}{figures['workers_cpu']:9.1f}"
                f"{cpu['postgres']:7.1f}"
                + ("" if figures["indexed"] == figures["documents"] else "  (not all indexed)")
            )
    if zero_rate is not None and not args.embed_latency:  # with latency it costs more than ~0
        met = "met" if zero_rate >= TARGET_DOCS_PER_SECOND else "NOT met"
        print(f"\n≥ 200 docs/s with the ~0-cost embedder: {met} ({zero_rate:.1f} docs/s)")
    if results.get("profile"):
        print_profile(results["profile"]["profile"], args.top)
    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.keep:
        print(f"homes and logs kept in {work}")
    else:
        stop_servers(work)
        shutil.rmtree(work, ignore_errors=True)


def stop_servers(work: Path) -> None:
    """The embedded servers stop with the phase that started them; make sure of it."""
    from pressrag.resources.database import stop_embedded_server

    for pgdata in work.glob("*/pgdata"):
        if (pgdata / "postmaster.pid").exists():
            stop_embedded_server(pgdata)


if __name__ == "__main__":
    main()
