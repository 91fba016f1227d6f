"""`pressrag index` submits `index_site` to the instance's run queue, as a sensor or the UI does.

The run then belongs to the instance, not to the terminal: it queues behind a run of the same
site (the one-run-per-site limit of dagster.yaml), starts through the run launcher in a code
server, is watched by run monitoring and can be re-executed from the UI.

Who takes it off the queue:
- a live daemon (`pressrag up`, or `dagster dev` on the same instance): the CLI only submits and
  follows, and a killed terminal leaves the run going;
- no daemon: the CLI serves the queue for its own run only, with Dagster's own dequeue step, so
  the queue's limits still decide when it starts. Its code server lives as long as the CLI.
  CLIs serving at the same time take turns under a file lock, so two of them cannot both start
  runs of one site.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

# Dagster's CLI run creation (`dagster job launch`), its daemon's dequeue step and workspace:
# not in the public namespace, and what the daemon and the UI themselves run.
from dagster._cli.job import _create_run
from dagster._core.storage.tags import PARTITION_NAME_TAG
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget, WorkspaceFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)

from pressrag.orchestration.up import LOCATION_MODULE, LOCATION_NAME, WORKSPACE_FILE
from pressrag.resources.errors import ConfigError

JOB_NAME = "index_site"
# A daemon heartbeats every 30 s; one missed beat more and it counts as gone.
DAEMON_HEARTBEAT_TOLERANCE_SECONDS = 60


def daemon_last_seen(instance: dg.DagsterInstance) -> float | None:
    """Seconds since the queue's daemon last heartbeat, or None if it never did."""
    beat = instance.get_daemon_heartbeats().get(QueuedRunCoordinatorDaemon.daemon_type())
    return None if beat is None else max(0.0, time.time() - beat.timestamp)


def daemon_alive(instance: dg.DagsterInstance) -> bool:
    seen = daemon_last_seen(instance)
    return seen is not None and seen <= DAEMON_HEARTBEAT_TOLERANCE_SECONDS


def _targets(instance: dg.DagsterInstance) -> Iterator[ModuleTarget | WorkspaceFileTarget]:
    up_workspace = Path(instance.root_directory) / WORKSPACE_FILE
    if daemon_alive(instance) and up_workspace.exists():
        yield WorkspaceFileTarget(paths=[str(up_workspace)])
    yield ModuleTarget(
        module_name=LOCATION_MODULE,
        attribute=None,
        working_directory=None,
        location_name=LOCATION_NAME,
    )


@contextmanager
def code_location(instance: dg.DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    """The `pressrag` code location: `pressrag up`'s code server when it runs (no process to
    start), else a code server of this process's own."""
    error = None
    for target in _targets(instance):
        with _workspace(instance, target) as context:
            error = context.create_request_context().get_code_location_error(LOCATION_NAME)
            if error is None:
                yield context
                return
    raise ConfigError(f"the code location {LOCATION_MODULE} failed to load: {error}")


@contextmanager
def _workspace(
    instance: dg.DagsterInstance, target: ModuleTarget | WorkspaceFileTarget
) -> Iterator[WorkspaceProcessContext]:
    """Dagster's workspace, whose own code server must exit within 30 s of being told to
    (`wait_for_local_processes_on_shutdown`) or the exit raises. On a loaded machine it may
    take longer; the run has ended by then, so that is a warning, not the command's failure:
    the server stops on its own once this process's heartbeats stop."""
    try:
        # The code server's start-up lines are Dagster's; failures still come through.
        with WorkspaceProcessContext(instance, target, code_server_log_level="WARNING") as context:
            yield context
    except subprocess.TimeoutExpired as exc:
        if "grpc" not in exc.cmd:
            raise
        print(
            f"warning: the code server did not exit within {exc.timeout:.0f} s; "
            "it stops by itself shortly",
            file=sys.stderr,
        )


def submit_index_run(
    context: WorkspaceProcessContext, site_id: str, run_config: dict, tags: dict[str, str]
) -> dg.DagsterRun:
    """Create an `index_site` run of one site partition and put it on the run queue."""
    workspace = context.create_request_context()
    location = workspace.get_code_location(LOCATION_NAME)
    (repository,) = location.get_repositories().values()
    run = _create_run(
        instance=context.instance,
        code_location=location,
        remote_repo=repository,
        remote_job=repository.get_full_job(JOB_NAME),
        run_config=run_config,
        tags={**tags, PARTITION_NAME_TAG: site_id},
        op_selection=None,
        run_id=None,
    )
    return context.instance.submit_run(run.run_id, workspace)


class _OwnRunDequeuer(QueuedRunCoordinatorDaemon):
    """The daemon's dequeue step, limited to one run: the queue's limits (one run per site,
    `max_concurrent_runs`) decide as they would for the daemon."""

    def __init__(self, run_id: str) -> None:
        super().__init__(interval_seconds=1)
        self._run_id = run_id
        # Its INFO lines ("Launched 1 runs.") are the daemon's log, not the terminal's.
        self._logger.setLevel(logging.WARNING)

    def _get_runs_to_dequeue(self, instance, concurrency_config, fixed_iteration_time):
        runs = super()._get_runs_to_dequeue(instance, concurrency_config, fixed_iteration_time)
        return [run for run in runs if run.run_id == self._run_id]


@contextmanager
def _queue_lock(instance: dg.DagsterInstance) -> Iterator[None]:
    with open(Path(instance.root_directory) / "cli-queue.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def queue_report(instance: dg.DagsterInstance, run_id: str) -> str:
    """Why a run is still waiting: the runs of its site ahead of it, or the queue's run limit."""
    site_id = instance.get_run_by_id(run_id).tags.get(PARTITION_NAME_TAG)
    waiting_on = instance.get_runs(
        dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ],
            tags={PARTITION_NAME_TAG: site_id},
        )
    )
    ahead = [run.run_id for run in waiting_on if run.run_id != run_id]
    if ahead:
        return (
            f"waiting in the queue behind run {', '.join(ahead)} of site {site_id} "
            "(one run per site at a time)"
        )
    return "waiting in the queue for a free run slot (max_concurrent_runs of dagster.yaml)"


def dequeue_own_run(context: WorkspaceProcessContext, run_id: str) -> None:
    """One pass of the queue for `run_id`: launched if the queue's limits allow it now."""
    with _queue_lock(context.instance), _OwnRunDequeuer(run_id) as dequeuer:
        for _ in dequeuer.run_iteration(context):
            pass
