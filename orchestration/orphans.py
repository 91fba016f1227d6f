"""Runs of `pressrag index` whose process died, found by the next `pressrag index`.

Run monitoring (the daemon) fails such runs and frees their pool slots, but the CLI also
works without a daemon: then a killed `pressrag index` left its run STARTED and its
`embeddings` slot taken, and every later run of the instance waited for that slot forever.
Before it starts, a CLI run does for its predecessors what the daemon would have done.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.launcher import WorkerStatus  # the run-monitoring protocol's verdicts

from pressrag.orchestration.run_launcher import WORKER_TAG, local_worker_health
from pressrag.orchestration.run_outcomes import failure_details
from pressrag.resources.store import Store
from pressrag.resources.store import status as status_sql

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def fail_orphaned_runs(instance: dg.DagsterInstance, store: Store) -> list[str]:
    """Fail every unfinished CLI run whose process is gone on this host, free its concurrency
    slots and close its `index_runs` row; the ids of the runs failed."""
    failed = []
    for run in instance.get_runs(dg.RunsFilter(statuses=_UNFINISHED)):
        tag = run.tags.get(WORKER_TAG)
        if not tag:
            continue  # launched through a code server: the daemon's run monitoring judges it
        health = local_worker_health(tag)
        if health.status != WorkerStatus.FAILED:
            continue
        instance.report_run_failed(run, f"found by a later pressrag index: {health.msg}")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        step, error = failure_details(instance, run.run_id)
        with store.connection() as conn:
            status_sql.close_unfinished_run(
                conn, run.run_id, "failed", failed_step=step, error=error
            )
        failed.append(run.run_id)
    return failed
