"""Freshness end to end: signed webhooks → serving → inbox → Dagster sensor → targeted runs.

Real processes throughout: the serving app (`python -m pressrag.serving`), Dagster (`dagster dev`:
webserver + daemon with the inbox sensor, the run-status sensors and the nightly schedule),
run workers launched by the daemon, the embedded Postgres, the real embedding model, and a
FakeWordPress whose content the tests change between steps. The tests run in file order and
build on each other's state (one site, `fresh`), which keeps the number of runs — each costs
a worker start and a model load — as small as the checks allow.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from pressrag.orchestration.sites import add_site
from pressrag.resources.store import Store
from tests.conftest import PressragEnv, site_info
from tests.support.dagster_daemon import (
    ADMIN_KEY,
    LOCATION,
    REPOSITORY,
    DagsterDev,
    ServingProcess,
    WebhookSender,
    launch_nightly_reconcile,
    serving_fixture_env,
)
from tests.support.fake_wordpress import FakeWordPress

SITE = "fresh"
RUN_DEADLINE = 150.0  # seconds per run on a busy 2-core machine (model load per run worker)

SEED_POSTS = [
    {
        "id": 1,
        "title": "Lighthouse lenses",
        "content": "<p>A Fresnel lens focuses the "
        "lighthouse lamp into a beam visible for twenty nautical miles.</p>",
    },
    {
        "id": 2,
        "title": "Keeping the light",
        "content": "<p>Keepers trimmed the wick every "
        "four hours and logged the weather in the station journal.</p>",
    },
    {
        "id": 3,
        "title": "Foghorns",
        "content": "<p>When fog rolled in, the diaphone foghorn "
        "sounded two blasts every minute.</p>",
    },
]


@dataclass
class Stack:
    env: PressragEnv
    wordpress: FakeWordPress
    serving: ServingProcess
    dagster: DagsterDev
    hooks: WebhookSender

    # ---- database views ------------------------------------------------------------------
    def query(self, sql: str, *params: object) -> list[tuple]:
        with Store(self.env.app_url, max_size=1) as store, store.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def inbox(self, event_ids: list[str]) -> dict[str, tuple]:
        rows = self.query(
            "SELECT event_id, status, run_id, attempts, batch_id FROM inbox "
            "WHERE event_id = ANY(%s)",
            event_ids,
        )
        return {r[0]: r[1:] for r in rows}

    def chunk_count(self, wp_id: int) -> tuple[int, int]:
        """(chunks, distinct ordinals) of one document: equal when there is one set."""
        return self.query(
            "SELECT count(*), count(DISTINCT c.ordinal) FROM chunks c "
            "JOIN documents d ON d.id = c.document_id WHERE d.site_id = %s AND d.wp_id = %s",
            SITE,
            wp_id,
        )[0]

    # ---- waiting -------------------------------------------------------------------------
    def wait_processed(self, event_ids: list[str], timeout: float = RUN_DEADLINE) -> dict:
        deadline = time.monotonic() + timeout
        states: dict = {}
        while time.monotonic() < deadline:
            states = self.inbox(event_ids)
            finished = {s[0] for s in states.values()}
            if len(states) == len(event_ids) and finished <= {"processed", "ignored"}:
                return states
            assert "dead" not in finished, f"events died: {states}"
            time.sleep(1)
        raise AssertionError(
            f"events not processed in {timeout}s: {states}\n{self.dagster.output(3000)}"
        )

    def wait_run(self, run_id: str, timeout: float = RUN_DEADLINE) -> str:
        import dagster as dg

        deadline = time.monotonic() + timeout
        with dg.DagsterInstance.get() as instance:
            while time.monotonic() < deadline:
                run = instance.get_run_by_id(run_id)
                if run is not None and run.is_finished:
                    return run.status.value
                time.sleep(1)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s")

    # ---- searching through serving -----------------------------------------------------------
    def titles(self, query: str, k: int = 5) -> list[str]:
        response = httpx.post(
            f"{self.serving.url}/v1/search",
            json={"site": SITE, "query": query, "k": k},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
            timeout=30,
        )
        response.raise_for_status()
        return [hit["title"] for hit in response.json()["hits"]]

    def publish(self, wp_id: int, title: str, content: str) -> str:
        """Change WordPress, then send the plugin's event; returns the event id."""
        self.wordpress.upsert({"id": wp_id, "title": title, "content": f"<p>{content}</p>"})
        event_id, response = self.hooks.send(
            "document.upserted", {"wp_id": wp_id, "post_type": "post", "status": "publish"}
        )
        assert response.status_code == 202, response.text
        return event_id


@pytest.fixture(scope="module")
def stack(pressrag_env: PressragEnv) -> Iterator[Stack]:
    with FakeWordPress() as wordpress:
        for post in SEED_POSTS:
            wordpress.upsert(post)
        add_site(SITE, url=wordpress.base_url)
        serving = ServingProcess(env=serving_fixture_env()).start()
        dagster = DagsterDev(env={"PRESSRAG_SENSOR_INTERVAL_SECONDS": "2"}).start()
        try:
            dagster.wait_ready(timeout=180)
            serving.wait_ready(timeout=180)
            yield Stack(
                env=pressrag_env,
                wordpress=wordpress,
                serving=serving,
                dagster=dagster,
                hooks=WebhookSender(serving.url, SITE, site_info(SITE).webhook_secret),
            )
        finally:
            dagster.stop()
            serving.stop()


# ---- GraphQL helpers ----------------------------------------------------------------------

_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""


def _backfill(stack: Stack, run_config: dict | None = None, partition: str = SITE) -> str:
    """Launch a backfill of one partition through GraphQL; return its only run id."""
    import dagster as dg

    params: dict = {
        "selector": {
            "partitionSetName": "index_site_partition_set",
            "repositorySelector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
            },
        },
        "partitionNames": [partition],
    }
    if run_config is not None:
        params["runConfigData"] = run_config
    result = stack.dagster.graphql(_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    backfill_id = result["backfillId"]
    deadline = time.monotonic() + 60
    with dg.DagsterInstance.get() as instance:
        while time.monotonic() < deadline:
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
            if runs:
                assert len(runs) == 1 and runs[0].tags.get("dagster/partition") == partition
                return runs[0].run_id
            time.sleep(1)
    raise AssertionError(f"backfill {backfill_id} launched no run:\n{stack.dagster.output()}")


_ADD_PARTITION = """
mutation($repo: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: "sites", partitionKey: $key) {
    __typename
    ... on PythonError { message }
  }
}"""


def _materializations(run_id: str) -> dict[str, dict]:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    found = {}
    for record in records:
        mat = record.event_log_entry.asset_materialization
        found[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return found


def _check_evaluations(run_id: str) -> dict[str, object]:
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    return {
        r.event_log_entry.dagster_event.event_specific_data.check_name: (
            r.event_log_entry.dagster_event.event_specific_data
        )
        for r in records
    }


# ---- the scenario -------------------------------------------------------------------------


def test_backfill_from_dagster_indexes_the_site(stack: Stack) -> None:
    run_id = _backfill(stack)
    assert stack.wait_run(run_id) == "SUCCESS"
    assert stack.titles("Fresnel lens beam nautical miles")[0] == "Lighthouse lenses"
    meta = _materializations(run_id)
    assert meta["wp_documents"]["added"] == len(SEED_POSTS)
    assert meta["embeddings"]["documents_indexed"] == len(SEED_POSTS)


def test_launch_for_unregistered_site_is_refused_and_leaves_nothing(stack: Stack) -> None:
    """The UI's "Add a partition" then launch, with a typo for a site name: the run fails
    before any step with a message naming the fix, and the typo's partition is gone."""
    import dagster as dg

    typo = "frsh"
    repo = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    added = stack.dagster.graphql(_ADD_PARTITION, {"repo": repo, "key": typo})
    assert added["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", added
    run_id = _backfill(stack, partition=typo)
    assert stack.wait_run(run_id, timeout=60) == "FAILURE"
    with dg.DagsterInstance.get() as instance:
        assert not instance.has_dynamic_partition("sites", typo)
        records = instance.get_records_for_run(run_id).records
        # A refusal is final: run_retries (dagster.yaml) must not launch it again.
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.tags.get("dagster/will_retry") == "false", run.tags
    events = [r.event_log_entry.dagster_event for r in records if r.event_log_entry.dagster_event]
    assert not [e for e in events if e.is_step_event], "a step ran for an unregistered site"
    failure = next(e for e in events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    assert "not registered" in failure.message and "pressrag sites add" in failure.message


def test_new_post_searchable_and_duplicate_delivery_runs_once(stack: Stack) -> None:
    import dagster as dg

    new = stack.publish(10, "Puffin colonies", "Atlantic puffins nest in burrows on grassy cliffs.")
    body_dup = stack.hooks.body("document.upserted", {"wp_id": 10, "post_type": "post"})
    # The same event id delivered twice more (plugin retry): 200, nothing new stored.
    again = [stack.hooks.post(body_dup, event_id=new) for _ in range(2)]
    assert [r.status_code for r in again] == [200, 200]
    states = stack.wait_processed([new])
    assert stack.titles("puffins nesting in burrows on cliffs")[0] == "Puffin colonies"
    chunks, ordinals = stack.chunk_count(10)
    assert chunks >= 1 and chunks == ordinals
    batch = states[new][3]
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"pressrag/inbox_batch": batch}))
    assert [r.run_id for r in runs] == [states[new][1]]  # one run, and the event names it


def test_update_replaces_text_and_unpublishing_removes(stack: Stack) -> None:
    """One batch updates post 10 and publishes four more; the next batch unpublishes those
    four in every way WordPress can (trash, private, password, delete)."""
    subjects = {
        11: ("Gannet diving", "Gannets dive into the sea at sixty miles an hour."),
        12: ("Cormorant drying", "Cormorants spread their wings to dry on harbour posts."),
        13: ("Tern migration", "Arctic terns fly from pole to pole every year."),
        14: ("Razorbill eggs", "Razorbills lay a single egg on a bare rock ledge."),
    }
    update = stack.publish(10, "Puffin colonies", "Puffins winter far out at sea, alone.")
    created = [stack.publish(i, t, c) for i, (t, c) in subjects.items()]
    stack.wait_processed([update, *created])
    # The update: the new text is found, the old text is gone (one set of chunks).
    texts = [
        r[0]
        for r in stack.query(
            "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.site_id = %s AND d.wp_id = 10",
            SITE,
        )
    ]
    assert texts and all("winter far out at sea" in t for t in texts)
    assert not any("burrows" in t for t in texts)
    assert stack.titles("where do puffins spend the winter at sea")[0] == "Puffin colonies"
    for wp_id in subjects:
        assert stack.chunk_count(wp_id)[0] >= 1
    stack.wordpress.upsert({"id": 11, "status": "trash"})
    stack.wordpress.upsert({"id": 12, "status": "private"})
    stack.wordpress.upsert({"id": 13, "password": "hunter2"})
    stack.wordpress.delete(14)
    events = [
        stack.hooks.send(
            "document.upserted", {"wp_id": 11, "post_type": "post", "status": "trash"}
        ),
        stack.hooks.send(
            "document.upserted", {"wp_id": 12, "post_type": "post", "status": "private"}
        ),
        stack.hooks.send(
            "document.upserted", {"wp_id": 13, "post_type": "post", "status": "publish"}
        ),
        stack.hooks.send("document.deleted", {"wp_id": 14, "post_type": "post"}),
        stack.hooks.send("comment.posted", {"comment_id": 99}),  # unknown: stored, ignored
    ]
    assert all(r.status_code == 202 for _, r in events)
    states = stack.wait_processed([e for e, _ in events])
    assert states[events[-1][0]][0] == "ignored"
    for wp_id, (title, content) in subjects.items():
        assert stack.chunk_count(wp_id) == (0, 0), f"document {wp_id} still has chunks"
        assert title not in stack.titles(content)
    assert (
        stack.query("SELECT count(*) FROM documents WHERE site_id = %s AND wp_id = 14", SITE)[0][0]
        == 0
    )


def test_serving_killed_after_202_and_daemon_down(stack: Stack) -> None:
    # Dagster (webserver + daemon) goes down first: events keep arriving and are stored.
    stack.dagster.stop()
    received = [
        stack.publish(20, "Storm petrels", "Storm petrels patter across the waves at night."),
        stack.publish(21, "Shearwater calls", "Manx shearwaters call from their burrows."),
    ]
    # The serving process is killed (SIGKILL, no shutdown) right after its 202.
    last = stack.publish(22, "Fulmar oil", "Fulmars spit a foul oil at intruders.")
    stack.serving.kill()
    received.append(last)
    assert {s[0] for s in stack.inbox(received).values()} == {"pending"}
    assert len(stack.inbox(received)) == 3  # acknowledged means stored
    time.sleep(3)
    assert {s[0] for s in stack.inbox(received).values()} == {"pending"}  # nobody processes
    stack.serving.start()
    stack.dagster.start()
    stack.serving.wait_ready(timeout=180)
    stack.dagster.wait_ready(timeout=180)
    stack.wait_processed(received, timeout=RUN_DEADLINE + 60)
    assert stack.titles("birds spitting foul oil at intruders")[0] == "Fulmar oil"
    assert stack.titles("petrels pattering across waves")[0] == "Storm petrels"


def test_reconcile_repairs_dropped_events_and_reports_drift(stack: Stack) -> None:
    # Changes whose events were lost: one edit, one new post, one deletion.
    stack.wordpress.upsert({"id": 2, "content": "<p>Keepers polished the brass every dawn.</p>"})
    stack.wordpress.upsert(
        {
            "id": 30,
            "title": "Lightship crews",
            "content": "<p>Lightships anchored over sandbanks where no tower could stand.</p>",
        }
    )
    stack.wordpress.delete(3)
    run_id, run_config = launch_nightly_reconcile(stack.dagster, SITE)
    assert run_config["ops"]["wp_documents"]["config"]["reason"] == "reconcile"
    assert stack.wait_run(run_id) == "SUCCESS"

    meta = _materializations(run_id)
    docs = meta["wp_documents"]
    assert (docs["added"], docs["updated"], docs["removed"]) == (1, 1, 1)
    assert docs["drift"] == 3 and meta["wp_media"]["drift"] == 0
    check = _check_evaluations(run_id)["reconcile_drift"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["drift"].value == 3
    assert stack.titles("lightships anchored over sandbanks")[0] == "Lightship crews"
    assert "Foghorns" not in stack.titles("diaphone foghorn blasts in fog")
    assert stack.chunk_count(3) == (0, 0)


def test_force_reembed_backfill_embeds_every_chunk(stack: Stack) -> None:
    run_id = _backfill(
        stack,
        {
            "ops": {
                name: {"config": {"force_reembed": True, "reason": "backfill"}}
                for name in ("wp_documents", "wp_media", "extracted_text", "chunks", "embeddings")
            }
        },
    )
    assert stack.wait_run(run_id) == "SUCCESS"
    embeddings = _materializations(run_id)["embeddings"]
    live = stack.query("SELECT count(*) FROM chunks WHERE site_id = %s", SITE)[0][0]
    assert live > 0
    assert embeddings["chunks_embedded"] == embeddings["chunks_written"] == live
    assert embeddings["cache_hits"] == 0
    # No event was lost or left behind along the way.
    leftovers = stack.query(
        "SELECT status, count(*) FROM inbox WHERE site_id = %s AND status NOT IN "
        "('processed', 'ignored') GROUP BY status",
        SITE,
    )
    assert leftovers == []
    assert os.environ["DAGSTER_HOME"] == stack.env.env["DAGSTER_HOME"]
