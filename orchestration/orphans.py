"""Runs whose worker died, or whose end nobody recorded, while no daemon watched: found by the
next `pressrag index`.

Run monitoring (the daemon) fails such runs and frees their pool slots, but the CLI also
works without a daemon: it serves the queue for its own run from a code server of its own, and
a killed `pressrag index` takes that server and its run worker with it. The run stayed STARTED
and its `embeddings` slot taken, and every later run of the instance waited for that slot
forever. Before it submits, a CLI with no daemon around does for its predecessors what the
daemon would have done, with the same worker check (orchestration/run_launcher.py).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.launcher import WorkerStatus  # the run-monitoring protocol's verdicts

from pressrag.orchestration.run_outcomes import failure_details, record_if_ended
from pressrag.resources.store import Store
from pressrag.resources.store import status as status_sql

_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]


def fail_orphaned_runs(instance: dg.DagsterInstance, store: Store) -> list[str]:
    """Fail every unfinished run whose worker is gone, free its concurrency slots and close its
    `index_runs` row; the ids of the runs failed."""
    failed: list[str] = []
    if not instance.run_launcher.supports_check_run_worker_health:
        return failed  # e.g. an operator's own launcher: its monitoring is its own
    for run in instance.get_runs(dg.RunsFilter(statuses=_UNFINISHED)):
        health = instance.run_launcher.check_run_worker_health(run)
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


def close_ended_runs(instance: dg.DagsterInstance, store: Store) -> list[str]:
    """Close `index_runs` rows still "running" whose run failed or was canceled while nothing
    recorded it (no daemon's run-status sensor, and the CLI that followed it killed); the ids
    of the rows closed."""
    with store.connection() as conn:
        open_ids = status_sql.open_run_ids(conn)
    closed = []
    for run_id in open_ids:
        run = instance.get_run_by_id(run_id)
        if run is not None and record_if_ended(instance, store, run):
            closed.append(run_id)
    return closed
