"""`pressrag index` with no daemon: its run goes through the instance's queue, launcher and
code server like any other, a second run of the same site waits its turn, and a killed or
interrupted CLI leaves nothing running.

(With `pressrag up` running, a killed CLI leaves its run going: tests/faults, scenario f.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from pressrag.resources.store import Store
from tests.conftest import SAMPLE_DIR, PressragEnv, private_pressrag_env
from tests.support.indexing import copy_wxr_site

SITE = "queued"
CLI = str(Path(sys.executable).with_name("pressrag"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PressragEnv]:
    # Its own instance: this module kills run workers and must not touch other modules' runs.
    with private_pressrag_env(tmp_path_factory, "cli-runs-home") as env:
        export = copy_wxr_site(SAMPLE_DIR, tmp_path_factory.mktemp("cli-runs-site") / "site")
        added = subprocess.run(
            [CLI, "sites", "add", SITE, "--wxr", str(export)], capture_output=True, text=True
        )
        assert added.returncode == 0, added.stderr
        yield env


def _index(*extra: str) -> subprocess.Popen[str]:
    # A session of its own, as a terminal gives: signals reach the CLI and what it started.
    return subprocess.Popen(
        [CLI, "index", "--site", SITE, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _runs() -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_runs(dg.RunsFilter(tags={"dagster/partition": SITE})))


def _wait_for(what: str, check, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _index_run_row(env: PressragEnv, run_id: str) -> tuple | None:
    with Store(env.app_url, max_size=1) as store, store.connection() as conn:
        return conn.execute(
            "SELECT status, stats FROM index_runs WHERE run_id = %s", (run_id,)
        ).fetchone()


def _started_run(env: PressragEnv, before: set[str]) -> str:
    """A new STARTED run of the site that has opened its index_runs row."""

    def started() -> str | None:
        for run in _runs():
            if run.run_id not in before and run.status == dg.DagsterRunStatus.STARTED:
                return run.run_id if _index_run_row(env, run.run_id) else None
        return None

    return _wait_for("a started run with its index_runs row", started)


def test_two_indexes_of_one_site_queue_one_behind_the_other(env: PressragEnv) -> None:
    first = _index()
    _wait_for("the first run", _runs)
    second = _index()
    out_first, _ = first.communicate(timeout=300)
    out_second, _ = second.communicate(timeout=300)
    assert first.returncode == 0, out_first[-3000:]
    assert second.returncode == 0, out_second[-3000:]

    runs = sorted(_runs(), key=lambda run: run.run_id not in out_first)
    assert len(runs) == 2
    assert {run.job_name for run in runs} == {"index_site"}  # the job, not an ephemeral one
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    assert f"waiting in the queue behind run {runs[0].run_id}" in out_second, out_second
    with dg.DagsterInstance.get() as instance:
        records = {r.dagster_run.run_id: r for r in instance.get_run_records()}
    a, b = records[runs[0].run_id], records[runs[1].run_id]
    assert b.start_time >= a.end_time, "the second run overlapped the first"
    # Progress came from the run's events, with the materializations' figures.
    assert "embeddings: {" in out_first and "check no_orphan_chunks: passed" in out_first


def test_a_killed_cli_run_is_failed_by_the_next_one(env: PressragEnv) -> None:
    before = {run.run_id for run in _runs()}
    killed = _index("--force")
    run_id = _started_run(env, before)
    os.killpg(killed.pid, signal.SIGKILL)  # the CLI, its code server and the run worker
    killed.wait()

    after = subprocess.run([CLI, "index", "--site", SITE], capture_output=True, text=True)
    assert after.returncode == 0, after.stdout[-3000:] + after.stderr[-3000:]
    assert f"run {run_id} had lost its worker: marked failed" in after.stdout
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        claimed = instance.event_log_storage.get_concurrency_info("embeddings").claimed_slots
    assert claimed == []
    status, stats = _index_run_row(env, run_id)
    assert status == "failed" and "unreachable" in stats["error"], stats


def test_ctrl_c_cancels_the_run_and_closes_its_record(env: PressragEnv) -> None:
    before = {run.run_id for run in _runs()}
    cli = _index("--force")
    run_id = _started_run(env, before)
    os.killpg(cli.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    out, _ = cli.communicate(timeout=120)
    assert cli.returncode != 0, out
    assert f"interrupted: canceling run {run_id}" in out
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
    assert run.status in {dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE}
    status, _ = _index_run_row(env, run_id)
    assert status in {"canceled", "failed"}
