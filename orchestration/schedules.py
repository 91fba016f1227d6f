"""The nightly reconcile: a full run of every registered site, and the drift check.

A full run lists every id and modified date from WordPress, re-indexes what changed or is
missing and removes what is gone; `wp_documents` / `wp_media` report the changes they found
as `drift`. On a nightly reconcile every such change is one no webhook delivered, so the
`reconcile_drift` check warns when it is above zero.

Which runs count: only runs with reason `reconcile` (the schedule). The assets report no
drift for a site's first index (it would "drift" everything by construction), and a
backfill or a manual index is an operator asking for a full pass, so their changes are
expected; the check passes on those and says why in its metadata.

Cron and timezone come from `PRESSRAG_RECONCILE_CRON` (default `0 3 * * *`) and
`PRESSRAG_RECONCILE_TIMEZONE` (default UTC), read when the code location loads.
"""

import dagster as dg

from pressrag.assets.indexing.common import site_partitions
from pressrag.assets.indexing.documents import wp_documents, wp_media
from pressrag.orchestration.jobs import index_run_config, index_site
from pressrag.orchestration.sensors import REASON_TAG, TRIGGER_TAG
from pressrag.orchestration.settings import get_orchestration_settings
from pressrag.orchestration.sites import PARTITIONS_NAME
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.store.sites import list_sites

RECONCILE_REASON = "reconcile"


@dg.schedule(
    name="nightly_reconcile",
    cron_schedule=get_orchestration_settings().reconcile_cron,
    execution_timezone=get_orchestration_settings().reconcile_timezone,
    job=index_site,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Full reconcile of every registered site; drift shows what events missed.",
)
def nightly_reconcile(
    context: dg.ScheduleEvaluationContext, store: StoreResource
) -> list[dg.RunRequest] | dg.SkipReason:
    with store.get().connection() as conn:
        site_ids = [s.id for s in list_sites(conn)]
    if not site_ids:
        return dg.SkipReason("no sites registered")
    missing = [
        s for s in site_ids if not context.instance.has_dynamic_partition(PARTITIONS_NAME, s)
    ]
    if missing:  # a schedule cannot return partition requests; add them directly
        context.instance.add_dynamic_partitions(PARTITIONS_NAME, missing)
    when = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
    return [
        dg.RunRequest(
            run_key=f"reconcile:{site_id}:{when}",
            partition_key=site_id,
            run_config=index_run_config(reason=RECONCILE_REASON),
            tags={REASON_TAG: RECONCILE_REASON, TRIGGER_TAG: "nightly_reconcile"},
        )
        for site_id in site_ids
    ]


def _run_reason(run: dg.DagsterRun) -> str:
    ops = (run.run_config or {}).get("ops", {})
    config = (ops.get("wp_documents") or {}).get("config") or {}
    return str(config.get("reason") or run.tags.get(REASON_TAG) or "manual")


def _run_drift(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """Drift metadata of this run's `wp_documents` and `wp_media` materializations."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    drift: dict[str, int] = {}
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        if materialization is None:
            continue
        value = materialization.metadata.get("drift")
        if value is not None:
            drift[materialization.asset_key.to_user_string()] = int(value.value)
    return drift


@dg.asset_check(
    asset=wp_documents,
    additional_deps=[wp_media],
    partitions_def=site_partitions,
    # Ready as soon as `wp_media` is, it ran before extraction: on a webhook's path to
    # searchable. Below the default priority the executor runs it when nothing else is ready.
    op_tags={"dagster/priority": "-1"},
    description="Warns when a nightly reconcile found changes no webhook delivered (drift).",
)
def reconcile_drift(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    run = context.run
    site_id = context.partition_key
    reason = _run_reason(run)
    drift = _run_drift(context.instance, run.run_id)
    total = sum(drift.values())
    meta: dict = {"site": site_id, "reason": reason, "drift": total, **drift}
    if not drift:  # targeted runs and a site's first index report no drift at all
        meta["counted"] = "no: no drift measured in this run (targeted or first index)"
        return dg.AssetCheckResult(passed=True, metadata=meta)
    if reason != RECONCILE_REASON:
        meta["counted"] = "no: not a nightly reconcile run"
        return dg.AssetCheckResult(passed=True, metadata=meta)
    meta["counted"] = "yes"
    return dg.AssetCheckResult(
        passed=total == 0, severity=dg.AssetCheckSeverity.WARN, metadata=meta
    )


SCHEDULES = [nightly_reconcile]
CHECKS = [reconcile_drift]
