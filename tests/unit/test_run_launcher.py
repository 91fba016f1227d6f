"""The worker check run monitoring relies on, for runs executed in a CLI process (the
code-server path is exercised against real code servers in tests/faults)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import dagster as dg
from dagster._core.launcher import WorkerStatus

from pressrag.orchestration.run_launcher import WORKER_TAG, WorkerCheckingRunLauncher, worker_tag


def _run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="index_site", run_id="r1", tags=tags)


def test_a_living_cli_process_is_running_and_a_dead_one_failed() -> None:
    launcher = WorkerCheckingRunLauncher()
    assert launcher.supports_check_run_worker_health
    alive = launcher.check_run_worker_health(_run(worker_tag()))
    assert alive.status == WorkerStatus.RUNNING

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = json.loads(worker_tag()[WORKER_TAG]) | {"pid": child.pid}
    result = launcher.check_run_worker_health(_run({WORKER_TAG: json.dumps(dead)}))
    assert result.status == WorkerStatus.FAILED and str(child.pid) in result.msg


def test_a_reused_pid_does_not_pass_for_the_worker() -> None:
    reused = json.loads(worker_tag()[WORKER_TAG])
    reused["start"] -= 1  # same pid, a different process start
    result = WorkerCheckingRunLauncher().check_run_worker_health(
        _run({WORKER_TAG: json.dumps(reused)})
    )
    assert result.status == WorkerStatus.FAILED


def test_what_cannot_be_judged_is_not_failed() -> None:
    launcher = WorkerCheckingRunLauncher()
    elsewhere = {"host": socket.gethostname() + "-other", "pid": 1, "start": 0}
    for tags in ({WORKER_TAG: json.dumps(elsewhere)}, {}):
        assert launcher.check_run_worker_health(_run(tags)).status == WorkerStatus.RUNNING
