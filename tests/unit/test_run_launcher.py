"""The worker check run monitoring (and a daemon-less `pressrag index`) relies on; the
living-code-server path is exercised against real code servers in tests/faults."""

from __future__ import annotations

import json
import socket

import dagster as dg
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from pressrag.orchestration.run_launcher import WorkerCheckingRunLauncher


def _run(tags: dict[str, str]) -> dg.DagsterRun:
    return dg.DagsterRun(job_name="index_site", run_id="r1", tags=tags)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_run_whose_code_server_is_gone_is_failed() -> None:
    launcher = WorkerCheckingRunLauncher()
    assert launcher.supports_check_run_worker_health
    port = _closed_port()
    gone = {GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": port})}
    result = launcher.check_run_worker_health(_run(gone))
    assert result.status == WorkerStatus.FAILED
    assert f"127.0.0.1:{port}" in result.msg and "unreachable" in result.msg


def test_what_cannot_be_judged_is_not_failed() -> None:
    result = WorkerCheckingRunLauncher().check_run_worker_health(_run({}))
    assert result.status == WorkerStatus.RUNNING
