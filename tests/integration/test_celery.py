"""`index_site` on Celery workers (issue 11, item 4): a real Redis broker, two real worker
processes (`pressrag celery-worker`), the real Dagster instance and PostgreSQL of a private
PRESSRAG_HOME, and the fake OpenAI API as a ~0-cost deterministic embedder.

- the steps of one run are spread over both workers (dagster-celery's engine events name the
  worker that ran each step), every stage fans out in shards, and the index is the one an
  in-process run makes of the same content: same chunks, hashes and vectors;
- a worker process SIGKILLed in the middle of an embedding shard: Celery gives the step to a
  worker again (late acknowledgement, requeue on a lost worker), the run succeeds, and the
  index is again exactly the in-process one: nothing lost, nothing doubled.

Each run embeds from an empty embedding cache, so the vectors compared were all made by the
run itself, not read from the cache another run filled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from pressrag.resources.store import Store
from tests.conftest import REPO_ROOT, PressragEnv, environment, private_pressrag_env
from tests.support.celery_workers import celery_workers
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_wordpress import FakeWordPress
from tests.support.indexing import materialize_site
from tests.support.redis_server import redis_server

pytestmark = pytest.mark.integration

POSTS = 12
SHARD_DOCUMENTS = 6  # 12 posts → 2 shards in every stage
DIMENSION = 64
WORKERS = ("alpha", "beta")


@dataclass
class CeleryStack:
    env: PressragEnv
    openai: FakeOpenAI
    broker_url: str
    worker_pids: dict[str, int]
    orchestrator_env: dict[str, str]
    site_urls: list[str]


def _post(n: int) -> dict:
    sections = "".join(
        f"<h2>Part {s} of lesson {n}</h2><p>Lesson {n} explains step {s}: "
        + " ".join(f"word{(n * 7 + s * 3 + w) % 97}" for w in range(60))
        + ".</p>"
        for s in range(1, 4)
    )
    return {"title": f"Lesson {n}", "content": sections}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CeleryStack]:
    logs = tmp_path_factory.mktemp("celery-logs")
    with ExitStack() as stack:
        env = stack.enter_context(private_pressrag_env(tmp_path_factory, "celery-home"))
        openai = stack.enter_context(FakeOpenAI(default_dimension=DIMENSION, slow_seconds=20))
        broker_url = stack.enter_context(redis_server(logs / "redis"))
        indexing = {
            "PRESSRAG_EMBEDDER": "openai",
            "PRESSRAG_OPENAI_BASE_URL": openai.base_url,
            "PRESSRAG_OPENAI_API_KEY": "sk-test-not-a-key",
            "PRESSRAG_OPENAI_EMBED_DIMENSIONS": str(DIMENSION),
            "PRESSRAG_INDEX_SHARD_DOCUMENTS": str(SHARD_DOCUMENTS),
        }
        stack.enter_context(environment(**indexing))  # the in-process run of this process too
        celery = {"PRESSRAG_CELERY_BROKER_URL": broker_url, "PRESSRAG_EXECUTOR": "celery"}
        # As on another machine: the database by URL, never an embedded server of its own.
        worker_env = {
            **os.environ,
            **celery,
            "DATABASE_URL": env.app_url,
            "PRESSRAG_DAGSTER_DATABASE_URL": env.dagster_url,
            "PRESSRAG_EMBEDDED_DATABASE": "0",
        }
        pids = stack.enter_context(celery_workers(WORKERS, worker_env, logs))
        site_urls = []
        for _ in range(3):  # one WordPress per site, all with the same content
            wordpress = stack.enter_context(FakeWordPress())
            for n in range(1, POSTS + 1):
                wordpress.upsert(_post(n))
            site_urls.append(wordpress.base_url)
        yield CeleryStack(env, openai, broker_url, pids, {**os.environ, **celery}, site_urls)


def _store() -> Store:
    return Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1)


def _forget_vectors() -> None:
    """An empty embedding cache: the next run makes every vector itself."""
    with _store() as store, store.connection() as conn:
        conn.execute("DELETE FROM embedding_cache")


def _index_of(site_id: str) -> list[tuple]:
    """The site's live index: every chunk with its position, hash, text and vector."""
    with _store() as store, store.connection() as conn:
        return conn.execute(
            "SELECT d.wp_id, c.ordinal, c.content_hash, c.token_count, c.heading_path, c.text, "
            "c.embedding::text FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.site_id = %s ORDER BY d.wp_id, c.ordinal",
            (site_id,),
        ).fetchall()


def _add_site(site_id: str, url: str) -> None:
    from pressrag.orchestration.sites import add_site

    add_site(site_id, url=url)


def _celery_run(stack: CeleryStack, site_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.celery_run", site_id],
        env=stack.orchestrator_env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finished(run: subprocess.Popen[str], timeout: float = 150) -> str:
    out, err = run.communicate(timeout=timeout)
    assert run.returncode == 0, f"run failed:\n{out[-3000:]}\n{err[-5000:]}"
    return out.split()[-1]


def _steps_by_worker(run_id: str) -> dict[str, set[str]]:
    """Worker name → the steps dagster-celery says it ran."""
    by_worker: dict[str, set[str]] = {}
    for entry in dg.DagsterInstance.get().all_logs(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT
    ):
        event = entry.dagster_event
        assert event is not None
        worker = event.engine_event_data.metadata.get("Celery worker")
        if worker is not None:
            by_worker.setdefault(worker.value.split("@")[0], set()).add(event.step_key)
    return by_worker


def _step_events(run_id: str, kind: dg.DagsterEventType) -> list[dg.EventLogEntry]:
    return list(dg.DagsterInstance.get().all_logs(run_id, of_type=kind))


def test_steps_run_on_both_workers_and_the_index_is_the_in_process_one(
    stack: CeleryStack,
) -> None:
    _add_site("on-celery", stack.site_urls[0])
    _add_site("in-process", stack.site_urls[1])

    _forget_vectors()
    run_id = _finished(_celery_run(stack, "on-celery"))
    by_worker = _steps_by_worker(run_id)
    assert set(by_worker) == set(WORKERS), by_worker
    steps = set().union(*by_worker.values())
    for stage_op in ("extract_shard", "chunk_shard", "embed_shard"):
        shards = {s for s in steps if f".{stage_op}[" in s}
        assert len(shards) == POSTS // SHARD_DOCUMENTS, (stage_op, sorted(steps))
    # The two shards of some stage ran at the same time, one on each worker.
    assert any(
        all(any(f".{stage_op}[" in step for step in s) for s in by_worker.values())
        for stage_op in ("extract_shard", "chunk_shard", "embed_shard")
    ), by_worker

    _forget_vectors()
    result = materialize_site("in-process")
    assert result.success

    celery_index = _index_of("on-celery")
    assert len({row[0] for row in celery_index}) == POSTS
    assert celery_index == _index_of("in-process")


def test_a_worker_killed_mid_step_is_retried_and_nothing_is_lost_or_doubled(
    stack: CeleryStack,
) -> None:
    reference = _index_of("in-process")
    assert reference, "runs after the first test"
    _add_site("killed", stack.site_urls[2])
    _forget_vectors()
    asked = len(stack.openai.requests)
    stack.openai.enqueue("slow")  # the first embedding request hangs: a step mid-way
    run = _celery_run(stack, "killed")
    deadline = time.monotonic() + 120
    while len(stack.openai.requests) == asked:
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.1)

    (dagster_run,) = dg.DagsterInstance.get().get_runs(
        filters=dg.RunsFilter(tags={"dagster/partition": "killed"})
    )
    (started,) = [
        e
        for e in _step_events(dagster_run.run_id, dg.DagsterEventType.STEP_START)
        if ".embed_shard[" in (e.step_key or "")
    ]
    pid = started.dagster_event.pid
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent in stack.worker_pids.values(), "the step runs in a worker's pool process"
    os.kill(pid, signal.SIGKILL)

    run_id = _finished(run)
    starts = [
        e.step_key
        for e in _step_events(run_id, dg.DagsterEventType.STEP_START)
        if e.step_key == started.step_key
    ]
    assert len(starts) == 2, "the killed step ran again"
    assert _index_of("killed") == reference
    with _store() as store, store.connection() as conn:
        failures = conn.execute(
            "SELECT count(*) FROM documents WHERE site_id = 'killed' AND failure_count > 0"
        ).fetchone()[0]
    assert failures == 0
