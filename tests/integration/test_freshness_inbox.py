"""The inbox state machine (real Postgres) and the sensor's coalescing rules (pure).

These cover what the end-to-end tests can only reach slowly: retries past the cap turning
events dead (and visible in the status report), and how a burst of events about the same
WordPress ids collapses to one plan per site.
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator

import pytest

from pressrag.orchestration.sensors import coalesce, run_request
from pressrag.resources.store import Store, inbox
from pressrag.resources.store.inbox import InboxEvent
from pressrag.resources.store.sites import Site, upsert_site
from pressrag.resources.store.status import site_status
from tests.conftest import PressragEnv


def _event(n: int, event_type: str, site: str = "s1", **data: object) -> InboxEvent:
    payload = {"type": event_type, "site": site, "data": data}
    return InboxEvent(n, f"msg_{n}", site, event_type, payload, 0)


def test_latest_state_of_each_id_wins() -> None:
    plans, unknown = coalesce(
        [
            _event(1, "document.upserted", wp_id=5),
            _event(2, "document.deleted", wp_id=5),  # delete after upsert → delete
            _event(3, "document.deleted", wp_id=6),
            _event(4, "document.upserted", wp_id=6),  # upsert after delete → upsert
            _event(5, "attachment.edited", wp_id=7),
            _event(6, "term.changed", taxonomy="category", term_id=3, wp_ids=[8, 9]),
            _event(7, "attachment.deleted", wp_id=10, parent_id=8),
            _event(8, "comment.posted"),
            _event(9, "document.upserted", site="s2", wp_id=5),
        ]
    )
    assert [e.event_id for e in unknown] == ["msg_8"]
    assert set(plans) == {"s1", "s2"}
    s1 = plans["s1"]
    assert (s1.upserts, s1.deletes, s1.full) == ({6, 7, 8, 9}, {5, 10}, False)
    config = s1.run_config()["ops"]["wp_documents"]["config"]
    assert config == {
        "wp_ids": [6, 7, 8, 9],
        "deleted_wp_ids": [5, 10],
        "force_reembed": False,
        "reason": "webhook",
    }
    assert plans["s2"].upserts == {5} and len(s1.events) == 7


def test_settings_change_means_full_reconcile_and_batch_ids_change_on_retry() -> None:
    plans, _ = coalesce(
        [_event(1, "document.upserted", wp_id=5), _event(2, "site.settings_changed")]
    )
    plan = plans["s1"]
    config = plan.run_config()["ops"]["wp_documents"]["config"]
    assert plan.full and config["wp_ids"] == [] and config["deleted_wp_ids"] == []
    same, _ = coalesce(
        [_event(2, "site.settings_changed"), _event(1, "document.upserted", wp_id=5)]
    )
    assert same["s1"].batch_id == plan.batch_id  # a tick is never launched twice
    retried = [
        InboxEvent(e.id, e.event_id, e.site_id, e.event_type, e.payload, 1) for e in plan.events
    ]
    again, _ = coalesce(retried)
    assert again["s1"].batch_id != plan.batch_id  # a retry is a new run key


def test_a_runs_tags_name_the_wordpress_ids_it_touches() -> None:
    """The Dagster runs list shows (and filters on) which posts a webhook run covers."""
    plans, _ = coalesce(
        [
            *(_event(n, "document.upserted", wp_id=100 + n) for n in range(25)),
            _event(30, "document.deleted", wp_id=7),
        ]
    )
    with warnings.catch_warnings():  # Dagster deprecates tag keys with a second "/"
        warnings.simplefilter("error", DeprecationWarning)
        tags = run_request(plans["s1"]).tags
    assert tags["pressrag/wp_ids_deleted"] == "7"
    listed = tags["pressrag/wp_ids_upserted"]
    assert listed.startswith("100,101,") and listed.endswith(",119 +5 more")
    full, _ = coalesce([_event(1, "site.settings_changed")])
    assert run_request(full["s1"]).tags["pressrag/wp_ids"] == "all (full reconcile)"


@pytest.fixture()
def store(pressrag_env: PressragEnv) -> Iterator[Store]:
    with Store(pressrag_env.app_url, max_size=2) as opened:
        yield opened
        with opened.connection() as conn:  # its inbox rows go too: no daemon should see them
            conn.execute("DELETE FROM sites WHERE id LIKE 'inbox-%%'")


def _site(store: Store) -> str:
    site_id = "inbox-" + uuid.uuid4().hex[:8]
    with store.connection() as conn:
        upsert_site(conn, Site(id=site_id, source_kind="rest", base_url="http://127.0.0.1:9"))
    return site_id


def test_redelivery_is_stored_once(store: Store) -> None:
    site_id = _site(store)
    event_id = f"msg_{uuid.uuid4()}"
    with store.connection() as conn:
        args = {"event_id": event_id, "site_id": site_id, "event_type": "document.upserted"}
        assert inbox.insert_event(conn, **args, payload={"n": 1})
        assert not inbox.insert_event(conn, **args, payload={"n": 2})
        rows = conn.execute("SELECT payload FROM inbox WHERE event_id = %s", (event_id,))
        assert [r[0] for r in rows] == [{"n": 1}]


def test_failed_batches_retry_then_die_and_show_in_status(store: Store) -> None:
    site_id = _site(store)
    with store.connection() as conn:
        for n in range(2):
            inbox.insert_event(
                conn,
                event_id=f"msg_{uuid.uuid4()}",
                site_id=site_id,
                event_type="document.upserted",
                payload={"data": {"wp_id": n + 1}},
            )
    for attempt in range(1, 4):
        with store.connection() as conn:
            ids = [
                e.id
                for e in inbox.pending_page(conn, after_id=0, limit=1000)
                if e.site_id == site_id
            ]
            assert len(ids) == 2, f"attempt {attempt}: events should be pending again"
            assert inbox.claim(conn, ids, f"b{attempt}-{site_id}") == 2
            assert inbox.claim(conn, ids, "other") == 0  # launched events are not re-claimed
            outcome = inbox.fail_batch(
                conn, f"b{attempt}-{site_id}", f"run-{attempt}", "boom", max_attempts=3
            )
        expected = {"retried": 0, "dead": 2} if attempt == 3 else {"retried": 2, "dead": 0}
        assert outcome == expected
    with store.connection() as conn:
        report = site_status(conn, site_id)
        assert (report["dead_events"], report["pending_events"]) == (2, 0)
        assert inbox.finish_batch(conn, f"b3-{site_id}", "late") == 0  # dead stays dead


def test_success_marks_processed_with_run_id(store: Store) -> None:
    site_id = _site(store)
    event_id = f"msg_{uuid.uuid4()}"
    with store.connection() as conn:
        inbox.insert_event(conn, event_id=event_id, site_id=site_id, event_type="x.y", payload={})
        row_id = conn.execute("SELECT id FROM inbox WHERE event_id = %s", (event_id,)).fetchone()
        inbox.claim(conn, [row_id[0]], f"ok-{site_id}")
        assert inbox.finish_batch(conn, f"ok-{site_id}", "run-42") == 1
        assert inbox.fail_batch(conn, f"ok-{site_id}", "run-43", "late failure") == {
            "retried": 0,
            "dead": 0,
        }
        status, run_id = conn.execute(
            "SELECT status, run_id FROM inbox WHERE event_id = %s", (event_id,)
        ).fetchone()
    assert (status, run_id) == ("processed", "run-42")


def test_sensor_relaunches_a_batch_whose_run_never_appeared(store: Store) -> None:
    """The daemon died between the sensor's claim and the launch: the next tick finds the
    batch without a run, sends its events back with one more attempt, and requests a run
    for them again under a new run key (the old key may be spent)."""
    import dagster as dg

    from pressrag.orchestration.sensors import BATCH_TAG, inbox_sensor
    from pressrag.resources.dagster_resources import StoreResource

    site_id = _site(store)
    with store.connection() as conn:
        inbox.insert_event(
            conn,
            event_id=f"msg_{uuid.uuid4()}",
            site_id=site_id,
            event_type="document.upserted",
            payload={"data": {"wp_id": 42}},
        )
        row_id = conn.execute("SELECT id FROM inbox WHERE site_id = %s", (site_id,)).fetchone()[0]
        inbox.claim(conn, [row_id], f"lost-{site_id}")
        conn.execute(
            "UPDATE inbox SET launched_at = now() - interval '5 minutes' WHERE id = %s", (row_id,)
        )
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"store": StoreResource()})
        result = inbox_sensor(context)
    ours = [r for r in result.run_requests if r.partition_key == site_id]
    assert len(ours) == 1
    request = ours[0]
    with store.connection() as conn:
        status, attempts, batch = conn.execute(
            "SELECT status, attempts, batch_id FROM inbox WHERE id = %s", (row_id,)
        ).fetchone()
    assert (status, attempts) == ("launched", 1)
    assert batch != f"lost-{site_id}" and request.run_key == batch == request.tags[BATCH_TAG]
    assert request.run_config["ops"]["wp_documents"]["config"]["wp_ids"] == [42]
    added = [k for p in result.dynamic_partitions_requests for k in p.partition_keys]
    assert site_id in added  # a site unknown to this instance gets its partition first


def _finished_run(instance, *, fail: bool, batch_id: str):
    """A real (tiny) run tagged with the batch, and its final run event."""
    import dagster as dg

    from pressrag.orchestration.sensors import BATCH_TAG

    @dg.op
    def step() -> None:
        if fail:
            raise RuntimeError("WordPress answered 500")

    @dg.job(tags={BATCH_TAG: batch_id})
    def stand_in_index_run() -> None:
        step()

    result = stand_in_index_run.execute_in_process(instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    wanted = "PIPELINE_FAILURE" if fail else "PIPELINE_SUCCESS"
    event = next(
        e.dagster_event
        for e in instance.all_logs(result.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == wanted
    )
    return run, event


def test_run_status_sensors_close_the_loop(store: Store) -> None:
    """A failed run sends its batch back to pending with one more attempt; the cap makes
    the events dead; a successful run marks them processed with its run id."""
    import dagster as dg

    from pressrag.orchestration.sensors import inbox_batch_failed, inbox_batch_succeeded
    from pressrag.resources.dagster_resources import StoreResource

    site_id = _site(store)
    with store.connection() as conn:
        for name in ("fails", "succeeds"):
            inbox.insert_event(
                conn,
                event_id=f"msg_{name}_{uuid.uuid4()}",
                site_id=site_id,
                event_type="document.upserted",
                payload={"data": {"wp_id": 1}},
            )
        ids = dict(
            conn.execute(
                "SELECT split_part(event_id, '_', 2), id FROM inbox WHERE site_id = %s",
                (site_id,),
            ).fetchall()
        )
    with dg.DagsterInstance.ephemeral() as instance:
        for attempt in range(1, inbox.DEFAULT_MAX_ATTEMPTS + 1):
            batch = f"f{attempt}-{site_id}"
            with store.connection() as conn:
                assert inbox.claim(conn, [ids["fails"]], batch) == 1, f"attempt {attempt}"
            run, event = _finished_run(instance, fail=True, batch_id=batch)
            context = dg.build_run_status_sensor_context(
                sensor_name="inbox_batch_failed",
                dagster_event=event,
                dagster_instance=instance,
                dagster_run=run,
                resources={"store": StoreResource()},
            ).for_run_failure()
            inbox_batch_failed(context)
        with store.connection() as conn:
            inbox.claim(conn, [ids["succeeds"]], f"ok-{site_id}")
        run_ok, event_ok = _finished_run(instance, fail=False, batch_id=f"ok-{site_id}")
        inbox_batch_succeeded(
            dg.build_run_status_sensor_context(
                sensor_name="inbox_batch_succeeded",
                dagster_event=event_ok,
                dagster_instance=instance,
                dagster_run=run_ok,
                resources={"store": StoreResource()},
            )
        )
    with store.connection() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT id, status, attempts, run_id, last_error FROM inbox WHERE site_id = %s",
                (site_id,),
            )
        }
        report = site_status(conn, site_id)
    status, attempts, run_id, error = rows[ids["fails"]]
    assert (status, attempts, run_id) == ("dead", inbox.DEFAULT_MAX_ATTEMPTS, run.run_id)
    assert "step" in error or "failed" in error
    assert rows[ids["succeeds"]][:3] == ("processed", 0, run_ok.run_id)
    assert report["dead_events"] == 1 and report["pending_events"] == 0
