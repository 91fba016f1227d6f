"""The Celery app that PressRAG's workers run: dagster-celery's step task, our settings.

`PRESSRAG_RUN_EXECUTOR=celery` (or `PRESSRAG_EXECUTOR`) makes every run send its steps to
the broker; a worker started with `pressrag celery-worker` (or `celery -A
pressrag.orchestration.celery_app worker -Q dagster`) takes them. Its settings are the
executor's own (`orchestration/settings.py`: `celery_config`), so both sides agree on late
acknowledgement and the visibility timeout.

Importing this module prepares the process as every entry point does (database URLs,
DAGSTER_HOME): the steps it runs connect to the database and the Dagster instance.
"""

from __future__ import annotations

import importlib
import os

from dagster._core.execution.retries import RetryMode
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from pressrag.orchestration.environment import prepare
from pressrag.orchestration.settings import celery_config, get_orchestration_settings

QUEUE = "dagster"  # dagster-celery's queue; its executor routes every step task there


def _app_args() -> dict[str, object]:
    settings = get_orchestration_settings()
    if settings.celery_broker_url is None:
        raise SystemExit("pressrag celery-worker needs PRESSRAG_CELERY_BROKER_URL")
    broker = settings.celery_broker_url.get_secret_value()
    backend = settings.celery_backend_url or settings.celery_broker_url
    return CeleryExecutor(
        retries=RetryMode(RetryMode.DISABLED),  # a worker runs steps; retries are the run's
        broker=broker,
        backend=backend.get_secret_value(),
        config_source=celery_config(settings),
    ).app_args()


# A worker's pool processes are the machine's parallelism already: a shard's HTML and
# chunking stay in the process that took the step (resources/cpu_pool.py), unless set.
os.environ.setdefault("PRESSRAG_INDEX_PROCESSES", "1")
prepare()
# Loaded once here, before the pool forks, so a pool process's first step does not spend
# ~5 s importing the code location (a step itself is ~0.5 s); after `prepare()`, which gives
# the code location its database.
importlib.import_module("pressrag.orchestration.definitions")
app = make_app(_app_args())
execute_plan = create_task(app)


def run_worker(*, concurrency: int, name: str | None, loglevel: str = "INFO") -> None:
    """Serve steps until stopped: `concurrency` pool processes, each one step at a time."""
    argv = ["worker", "-Q", QUEUE, f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    if name:
        argv += ["-n", name]
    app.worker_main(argv)
