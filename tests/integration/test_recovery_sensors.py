"""The sensors behind recovery, against real Postgres and real (tiny) Dagster runs: a run that
did not succeed closes its `index_runs` row with the step and the error; webhook runs are not
retried by Dagster on top of the inbox; a site's new events wait while its run is queued."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.storage.tags import GRPC_INFO_TAG

from pressrag.orchestration.orphans import close_ended_runs, fail_orphaned_runs
from pressrag.orchestration.run_outcomes import (
    failure_details,
    index_run_canceled,
    index_run_failed,
)
from pressrag.orchestration.sensors import BATCH_TAG, inbox_sensor
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.store import Store, inbox
from pressrag.resources.store import status as status_sql
from pressrag.resources.store.sites import Site, upsert_site
from tests.conftest import PressragEnv


@pytest.fixture()
def store(pressrag_env: PressragEnv) -> Iterator[Store]:
    with Store(pressrag_env.app_url, max_size=2) as opened:
        yield opened
        with opened.connection() as conn:  # its rows go too: no daemon should see them
            conn.execute("DELETE FROM sites WHERE id LIKE 'recovery-%%'")


def _site(store: Store) -> str:
    site_id = "recovery-" + uuid.uuid4().hex[:8]
    with store.connection() as conn:
        upsert_site(conn, Site(id=site_id, source_kind="rest", base_url="http://127.0.0.1:9"))
    return site_id


def _failed_run(instance: dg.DagsterInstance) -> tuple[dg.DagsterRun, dg.DagsterEvent]:
    @dg.op
    def fetch() -> int:
        return 1

    @dg.op
    def embed(documents: int) -> None:
        raise ConnectionError(f"model server went away after {documents} document")

    @dg.job
    def stand_in_index_run() -> None:
        embed(fetch())

    result = stand_in_index_run.execute_in_process(instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    event = next(
        e.dagster_event
        for e in instance.all_logs(result.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"
    )
    return run, event


def test_a_failed_run_closes_its_row_with_the_step_and_the_error(store: Store) -> None:
    site_id = _site(store)
    with dg.DagsterInstance.ephemeral() as instance:
        run, event = _failed_run(instance)
        with store.connection() as conn:
            status_sql.start_run(conn, run.run_id, site_id, "webhook")
        context = dg.build_run_status_sensor_context(
            sensor_name="index_run_failed",
            dagster_event=event,
            dagster_instance=instance,
            dagster_run=run,
            resources={"store": StoreResource()},
        )
        index_run_failed(context)
        # A late report for the same run (another sensor, a redelivery) changes nothing.
        index_run_canceled(context)
    with store.connection() as conn:
        report = status_sql.site_status(conn, site_id)
    last = report["last_run"]
    assert last["status"] == "failed" and last["finished_at"]
    assert last["stats"]["failed_step"] == "embed"
    assert last["stats"]["error"] == "ConnectionError: model server went away after 1 document"


def test_a_run_whose_worker_died_names_the_step_it_was_in() -> None:
    """No step failure: the step that was running, and what the engine said after it."""
    with dg.DagsterInstance.ephemeral() as instance:

        @dg.op
        def embeddings() -> None:
            pass

        @dg.job
        def stand_in() -> None:
            embeddings()

        run = instance.create_run_for_job(stand_in)
        instance.report_engine_event("Executing steps in process (pid: 1)", run)
        instance.handle_new_event(
            dg.EventLogEntry(
                error_info=None,
                level="DEBUG",
                user_message="",
                run_id=run.run_id,
                timestamp=0.0,
                step_key="embeddings",
                job_name="stand_in",
                dagster_event=dg.DagsterEvent(
                    event_type_value="STEP_START", job_name="stand_in", step_key="embeddings"
                ),
            )
        )
        instance.report_engine_event("Run worker was terminated by signal 9 (SIGKILL).", run)
        instance.report_run_failed(run, "Detected run worker status FAILED. Marking run failed.")
        step, error = failure_details(instance, run.run_id)
    assert step == "embeddings"
    assert error == (
        "Run worker was terminated by signal 9 (SIGKILL). — "
        "Detected run worker status FAILED. Marking run failed."
    )


def _pending_event(store: Store, site_id: str, wp_id: int) -> None:
    with store.connection() as conn:
        inbox.insert_event(
            conn,
            event_id=f"msg_{uuid.uuid4()}",
            site_id=site_id,
            event_type="document.upserted",
            payload={"data": {"wp_id": wp_id}},
        )


def _requests_for(instance: dg.DagsterInstance, site_id: str) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(instance=instance, resources={"store": StoreResource()})
    return [r for r in inbox_sensor(context).run_requests if r.partition_key == site_id]


def test_new_events_wait_while_the_sites_run_is_queued_and_are_not_retried_twice(
    store: Store,
) -> None:
    site_id = _site(store)
    _pending_event(store, site_id, 1)
    with dg.DagsterInstance.ephemeral() as instance:
        [first] = _requests_for(instance, site_id)
        # The inbox retries a failed batch itself; Dagster must not run the same events again.
        assert first.tags["dagster/max_retries"] == "0" and first.tags[BATCH_TAG]
        # Waiting to start (a QUEUED run needs a code location's origin; the sensor holds
        # events for both states alike).
        queued = dg.DagsterRun(
            job_name="index_site",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.NOT_STARTED,
            tags={"dagster/partition": site_id, BATCH_TAG: first.tags[BATCH_TAG]},
        )
        instance.add_run(queued)
        _pending_event(store, site_id, 2)
        _pending_event(store, site_id, 3)
        assert _requests_for(instance, site_id) == []  # held: the site's run has not started
        instance.handle_run_event(
            queued.run_id,
            dg.DagsterEvent(event_type_value="PIPELINE_START", job_name="index_site"),
        )
        [second] = _requests_for(instance, site_id)  # started: both events in one more run
    assert second.run_config["ops"]["wp_documents"]["config"]["wp_ids"] == [2, 3]


def _started_run(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.DagsterRun:
    @dg.op
    def embeddings() -> None:
        pass

    @dg.job
    def stand_in_cli_run() -> None:
        embeddings()

    run = instance.create_run_for_job(stand_in_cli_run, tags=tags)
    instance.run_storage.handle_run_event(
        run.run_id,
        DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=run.job_name),
    )
    instance.event_log_storage.claim_concurrency_slot("embeddings", run.run_id, "embeddings")
    return run


def _code_server(port: int) -> dict[str, str]:
    return {GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": port})}


def test_a_run_whose_code_server_died_is_failed_and_frees_its_slot(store: Store) -> None:
    """Without a daemon, the next `pressrag index` does run monitoring's work: a SIGKILLed
    `pressrag index` takes its own code server and run worker with it, and its run would keep
    the `embeddings` slot for ever, so every later run waited."""
    site_id = _site(store)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    launcher = {
        "module": "pressrag.orchestration.run_launcher",
        "class": "WorkerCheckingRunLauncher",
    }
    with dg.DagsterInstance.local_temp(overrides={"run_launcher": launcher}) as instance:
        instance.event_log_storage.set_concurrency_slots("embeddings", 3)
        dead = _started_run(instance, _code_server(closed_port))
        unjudged = _started_run(instance, {})  # no worker recorded: not failed on a guess
        with store.connection() as conn:
            status_sql.start_run(conn, dead.run_id, site_id, "manual")

        assert fail_orphaned_runs(instance, store) == [dead.run_id]

        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(unjudged.run_id).status == dg.DagsterRunStatus.STARTED
        claimed = instance.event_log_storage.get_concurrency_info("embeddings").claimed_slots
        assert [s.run_id for s in claimed] == [unjudged.run_id]
        assert fail_orphaned_runs(instance, store) == []  # judged once
    with store.connection() as conn:
        last = status_sql.site_status(conn, site_id)["last_run"]
    assert last["status"] == "failed"
    assert f"127.0.0.1:{closed_port}" in last["stats"]["error"]


def test_rows_of_runs_that_ended_unrecorded_are_closed(store: Store) -> None:
    """A run canceled while no daemon's sensor watched, and whose CLI was killed before it
    recorded the end, kept its row "running": the next `pressrag index` closes it."""
    site_id = _site(store)
    with dg.DagsterInstance.local_temp() as instance:
        canceled = _started_run(instance, {})
        instance.report_run_canceled(canceled)
        going = _started_run(instance, {})
        with store.connection() as conn:
            for run in (canceled, going):
                status_sql.start_run(conn, run.run_id, site_id, "manual")

        assert close_ended_runs(instance, store) == [canceled.run_id]
        assert close_ended_runs(instance, store) == []
    with store.connection() as conn:
        rows = dict(
            conn.execute(
                "SELECT run_id, status FROM index_runs WHERE site_id = %s", (site_id,)
            ).fetchall()
        )
    assert rows == {canceled.run_id: "canceled", going.run_id: "running"}
