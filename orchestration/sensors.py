"""The webhook sensor and the run-status sensors that close the inbox loop.

`inbox_sensor` (every few seconds) pages through pending inbox events with a cursor,
coalesces them per site — the latest event about a WordPress id wins — and requests one
`index_site` run per site with the affected ids in run config. Before the run exists the
events are claimed into a batch whose id is both the run key (hash of the covered event ids
and their attempt counts, so the same tick is never launched twice, while a retry gets a new
key) and the run tag `pressrag/inbox_batch`. The run-status sensors then mark the batch
processed (with the run id) or send it back to pending with one more attempt; past the cap
the events are dead and show in `pressrag status` and the status API.

A batch whose run never appeared (the daemon died between the tick and the launch) or whose
run ended while no status sensor was watching is repaired by the next `inbox_sensor` tick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import dagster as dg

from pressrag.orchestration.jobs import index_run_config, index_site
from pressrag.orchestration.settings import get_orchestration_settings
from pressrag.orchestration.sites import PARTITIONS_NAME
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.store import inbox
from pressrag.resources.store.inbox import InboxEvent
from pressrag.resources.webhooks import (
    ATTACHMENT_ADDED,
    ATTACHMENT_DELETED,
    ATTACHMENT_EDITED,
    DOCUMENT_DELETED,
    DOCUMENT_UPSERTED,
    SITE_REINDEX_REQUESTED,
    SITE_SETTINGS_CHANGED,
    TERM_CHANGED,
)

BATCH_TAG = "pressrag/inbox_batch"
REASON_TAG = "pressrag/reason"
IDS_TAG = "pressrag/wp_ids"
IDS_SHOWN = 20  # ids listed in a run's tag; the run config holds them all
TRIGGER_TAG = "pressrag/trigger"
PAGE_SIZE = 500
MAX_EVENTS_PER_TICK = 5000  # keeps one evaluation well inside Dagster's 60 s limit
# A claimed batch with no Dagster run after this long was never launched.
LAUNCH_GRACE_SECONDS = 60.0


# Dagster's sensor daemon looks at every sensor once per loop of 5 s (a constant of the daemon)
# and ticks one whose last tick *started* at least `minimum_interval_seconds` before. The tick
# starts a moment after its loop does, so with exactly the loop's 5 s the next loop found 4.9 s
# elapsed and skipped: the inbox sensor ticked every 10 s, not 5 (ticks measured 5–13 s apart).
# A second of slack keeps the cadence at the configured interval.
DAEMON_JITTER_SECONDS = 1


def sensor_interval() -> int:
    """Dagster's minimum interval giving ticks every `PRESSRAG_SENSOR_INTERVAL_SECONDS`."""
    return max(1, get_orchestration_settings().sensor_interval_seconds - DAEMON_JITTER_SECONDS)


def max_attempts() -> int:
    return get_orchestration_settings().inbox_max_attempts


_UPSERTS = {DOCUMENT_UPSERTED, ATTACHMENT_ADDED, ATTACHMENT_EDITED}
_DELETES = {DOCUMENT_DELETED, ATTACHMENT_DELETED}
_FULL = {SITE_SETTINGS_CHANGED, SITE_REINDEX_REQUESTED}


@dataclass
class SitePlan:
    """What one site's run must do for the events it covers."""

    site_id: str
    upserts: set[int] = field(default_factory=set)
    deletes: set[int] = field(default_factory=set)
    full: bool = False
    events: list[InboxEvent] = field(default_factory=list)

    def upsert(self, wp_id: int) -> None:
        self.deletes.discard(wp_id)
        self.upserts.add(wp_id)

    def delete(self, wp_id: int) -> None:
        self.upserts.discard(wp_id)
        self.deletes.add(wp_id)

    @property
    def batch_id(self) -> str:
        """Hash of the covered events and their attempts: stable for a tick, new on retry."""
        digest = hashlib.sha256()
        for event in sorted(self.events, key=lambda e: e.id):
            digest.update(f"{event.event_id}:{event.attempts}\n".encode())
        return f"{self.site_id}-{digest.hexdigest()[:20]}"

    def id_tags(self) -> dict[str, str]:
        """The WordPress ids the run touches, as tags the runs list shows and filters on."""
        if self.full:
            return {IDS_TAG: "all (full reconcile)"}
        tags = {}
        for name, ids in (("upserted", self.upserts), ("deleted", self.deletes)):
            if ids:
                shown = sorted(ids)[:IDS_SHOWN]
                more = f" +{len(ids) - len(shown)} more" if len(ids) > len(shown) else ""
                tags[f"{IDS_TAG}_{name}"] = ",".join(map(str, shown)) + more
        return tags

    def run_config(self) -> dict:
        if self.full:  # a full reconcile covers every id of the site
            return index_run_config(reason="webhook")
        return index_run_config(
            wp_ids=sorted(self.upserts), deleted_wp_ids=sorted(self.deletes), reason="webhook"
        )


def coalesce(events: Iterable[InboxEvent]) -> tuple[dict[str, SitePlan], list[InboxEvent]]:
    """Group events per site in arrival order; return (plans, events of unknown type)."""
    plans: dict[str, SitePlan] = {}
    unknown: list[InboxEvent] = []
    for event in sorted(events, key=lambda e: e.id):
        data = event.payload.get("data") or {}
        if event.event_type in _UPSERTS:
            action = [("upsert", int(data["wp_id"]))]
        elif event.event_type in _DELETES:
            action = [("delete", int(data["wp_id"]))]
        elif event.event_type == TERM_CHANGED:
            action = [("upsert", int(i)) for i in data.get("wp_ids", [])]
        elif event.event_type in _FULL:
            action = [("full", 0)]
        else:
            unknown.append(event)
            continue
        plan = plans.setdefault(event.site_id, SitePlan(event.site_id))
        plan.events.append(event)
        for verb, wp_id in action:
            if verb == "full":
                plan.full = True
            else:
                getattr(plan, verb)(wp_id)
    return plans, unknown


def _read_pending(store: StoreResource) -> tuple[list[InboxEvent], int]:
    """Pending events in pages (keyset cursor on the inbox id), at most a tick's worth."""
    events: list[InboxEvent] = []
    cursor = 0
    with store.get().connection() as conn:
        while len(events) < MAX_EVENTS_PER_TICK:
            page = inbox.pending_page(conn, after_id=cursor, limit=PAGE_SIZE)
            if not page:
                break
            events.extend(page)
            cursor = page[-1].id
    return events, cursor


def _resolve_batch(store: StoreResource, batch_id: str, run: dg.DagsterRun | None) -> str:
    """Apply a finished (or missing) run's outcome to its batch; returns what was done."""
    with store.get().connection() as conn:
        if run is None:
            inbox.fail_batch(
                conn, batch_id, None, "run was never launched", max_attempts=max_attempts()
            )
            return "relaunch"
        if run.status == dg.DagsterRunStatus.SUCCESS:
            inbox.finish_batch(conn, batch_id, run.run_id)
            return "processed"
        if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            inbox.fail_batch(
                conn, batch_id, run.run_id, f"run {run.status.value}", max_attempts=max_attempts()
            )
            return "retry"
    return "running"


def _repair_stale(context: dg.SensorEvaluationContext, store: StoreResource) -> dict[str, int]:
    """Batches claimed long ago: never launched, or finished while nobody was watching."""
    with store.get().connection() as conn:
        stale = inbox.launched_batches(conn, older_than_seconds=LAUNCH_GRACE_SECONDS)
    outcome: dict[str, int] = {}
    for batch_id in stale:
        runs = context.instance.get_runs(filters=dg.RunsFilter(tags={BATCH_TAG: batch_id}))
        # Automatic run retries share the tag; the newest run decides.
        done = _resolve_batch(store, batch_id, runs[0] if runs else None)
        outcome[done] = outcome.get(done, 0) + 1
    return outcome


def _claim(store: StoreResource, plans: dict[str, SitePlan], unknown: list[InboxEvent]) -> None:
    with store.get().connection() as conn:
        inbox.mark_ignored(conn, [e.id for e in unknown], "unknown event type")
        for plan in plans.values():
            inbox.claim(conn, [e.id for e in plan.events], plan.batch_id)


def run_request(plan: SitePlan) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=plan.batch_id,
        partition_key=plan.site_id,
        run_config=plan.run_config(),
        tags={
            BATCH_TAG: plan.batch_id,
            REASON_TAG: "webhook",
            TRIGGER_TAG: "inbox_sensor",
            **plan.id_tags(),
            # The inbox retries a failed batch itself (its events go back to pending, with an
            # attempt count and a cap); a Dagster run retry would run the same events twice.
            "dagster/max_retries": "0",
        },
    )


def _sites_with_queued_run(context: dg.SensorEvaluationContext) -> set[str]:
    """Sites whose next run is still waiting in the queue: their new events wait for the next
    tick after it starts, so a burst makes one more run per site, not one per tick."""
    waiting = context.instance.get_runs(
        filters=dg.RunsFilter(
            job_name=index_site.name,
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED],
        )
    )
    return {run.tags["dagster/partition"] for run in waiting if "dagster/partition" in run.tags}


@dg.sensor(
    job=index_site,
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Pending webhook events → one targeted index_site run per site.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, store: StoreResource) -> dg.SensorResult:
    repaired = _repair_stale(context, store)
    events, last_id = _read_pending(store)
    plans, unknown = coalesce(events)
    for site_id in _sites_with_queued_run(context) & plans.keys():
        context.log.info(f"{site_id}: a run is still queued; its new events wait for it to start")
        del plans[site_id]
    for event in unknown:
        context.log.warning(
            f"ignoring event {event.event_id} of unknown type {event.event_type!r} "
            f"(site {event.site_id})"
        )
    _claim(store, plans, unknown)
    missing = [s for s in plans if not context.instance.has_dynamic_partition(PARTITIONS_NAME, s)]
    requests = [run_request(plan) for plan in plans.values()]
    for plan in plans.values():
        what = (
            "full reconcile"
            if plan.full
            else f"{len(plan.upserts)} upserts, {len(plan.deletes)} deletes"
        )
        context.log.info(f"{plan.site_id}: {len(plan.events)} events → {plan.batch_id} ({what})")
    if set(repaired) - {"running"}:  # batches whose run is still going need no word
        context.log.info(f"repaired stale batches: {repaired}")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=([site_partitions_request(missing)] if missing else []),
        cursor=str(max(last_id, int(context.cursor or 0))),
        skip_reason=None if requests else "no pending events",
    )


def site_partitions_request(site_ids: list[str]) -> dg.AddDynamicPartitionsRequest:
    return dg.AddDynamicPartitionsRequest(
        partitions_def_name=PARTITIONS_NAME, partition_keys=site_ids
    )


def _batch_of(run: dg.DagsterRun) -> str | None:
    return run.tags.get(BATCH_TAG)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[index_site],
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A webhook batch's run succeeded: its inbox events are processed.",
)
def inbox_batch_succeeded(context: dg.RunStatusSensorContext, store: StoreResource) -> None:
    batch_id = _batch_of(context.dagster_run)
    if batch_id:
        with store.get().connection() as conn:
            done = inbox.finish_batch(conn, batch_id, context.dagster_run.run_id)
        context.log.info(f"batch {batch_id}: {done} events processed")


@dg.run_failure_sensor(
    monitored_jobs=[index_site],
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A webhook batch's run failed: its events go back to pending (or dead).",
)
def inbox_batch_failed(context: dg.RunFailureSensorContext, store: StoreResource) -> None:
    batch_id = _batch_of(context.dagster_run)
    if batch_id:
        message = context.failure_event.message or "run failed"
        with store.get().connection() as conn:
            outcome = inbox.fail_batch(
                conn,
                batch_id,
                context.dagster_run.run_id,
                message,
                max_attempts=max_attempts(),
            )
        context.log.warning(f"batch {batch_id}: {outcome}")


SENSORS = [inbox_sensor, inbox_batch_succeeded, inbox_batch_failed]
