"""`summaries_to_wordpress`: new summaries sent to the plugin by signed callbacks.

Batches of `BATCH_SIZE` in one `summaries.deliver` message each. What WordPress confirmed is
recorded per summary version at once, so a failed step retried by the `RetryPolicy` sends
only the rest, and a version WordPress already has is never sent again. WordPress answers per
item: `stored`, `unchanged` (it had this version: a resend after a lost answer lands once),
`stale` (it has a newer one) or `skipped` (not public there any more, or gone) — the last
check against WordPress's own state at the moment of writing. WXR sites have no WordPress to
write to: their summaries stay in PressRAG (`pressrag summaries --site S`).
"""

from collections import Counter

import dagster as dg

from assets.indexing.common import site_of, site_partitions, timed
from assets.writeback.summaries import summaries
from resources.dagster_resources import StoreResource
from resources.writeback import store as summaries_sql
from resources.writeback.callbacks import CallbackError
from resources.writeback.dagster_resources import WordPressCallbackResource
from resources.writeback.store import Delivery

BATCH_SIZE = 25
DELIVERED = {"stored", "unchanged", "stale"}
KEPT_IN_PRESSRAG = (
    "kept in PressRAG only: this site is read from a WXR export, so there is no WordPress "
    "to write to (see `pressrag summaries --site {site}`)"
)


def _outcomes(answer: dict, batch: list[Delivery]) -> dict[int, tuple[str, str | None]]:
    """wp_id → (status, reason) from the plugin's answer; a missing item is a protocol error."""
    results = answer.get("results")
    by_id: dict[int, tuple[str, str | None]] = {}
    for item in results if isinstance(results, list) else []:
        if isinstance(item, dict) and isinstance(item.get("wp_id"), int):
            by_id[item["wp_id"]] = (str(item.get("status", "")), item.get("reason"))
    known = {*DELIVERED, "skipped"}
    missing = [d.wp_id for d in batch if by_id.get(d.wp_id, ("",))[0] not in known]
    if missing:
        raise dg.Failure(
            description=f"WordPress's answer has no valid result for posts {missing[:10]}",
            allow_retries=False,
        )
    return by_id


@dg.asset(
    partitions_def=site_partitions,
    group_name="writeback",
    kinds={"wordpress"},
    deps=[summaries],
    automation_condition=dg.AutomationCondition.eager(),
    retry_policy=dg.RetryPolicy(
        max_retries=4, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    description="New summaries written to WordPress post meta through the plugin's signed "
    "callback route (REST sites; WXR sites keep them in PressRAG).",
)
def summaries_to_wordpress(
    context: dg.AssetExecutionContext, store: StoreResource, callbacks: WordPressCallbackResource
) -> dg.MaterializeResult:
    db = store.get()
    site = site_of(context, db)
    if site.source_kind != "rest":
        context.log.info(KEPT_IN_PRESSRAG.format(site=site.id))
        return dg.MaterializeResult(
            metadata={"delivery": KEPT_IN_PRESSRAG.format(site=site.id), "sent": 0}
        )
    if site.settings.get("writeback") is False:
        note = f"write-back is off (`pressrag sites add {site.id} --url … --writeback` turns it on)"
        return dg.MaterializeResult(metadata={"delivery": note, "sent": 0})
    client = callbacks.client_for(site)
    outcomes: Counter[str] = Counter()
    batches = 0
    after = 0
    with timed() as clock:
        while True:
            with db.connection() as conn:
                batch = summaries_sql.pending_deliveries(
                    conn, site.id, limit=BATCH_SIZE, after_document_id=after
                )
            if not batch:
                break
            after = batch[-1].document_id
            message = {
                "type": "summaries.deliver",
                "site": site.id,
                "items": [d.as_item() for d in batch],
            }
            try:
                answer = client.send(message)
            except CallbackError as exc:
                if exc.no_route and batches == 0:
                    # A site indexed without the plugin (any public WordPress can be): nothing
                    # to write to, which is no failure; delivered once the plugin is there.
                    context.log.warning(f"{exc}; summaries are kept in PressRAG")
                    return dg.MaterializeResult(
                        metadata={"delivery": f"{exc}; summaries are kept in PressRAG", "sent": 0}
                    )
                raise dg.Failure(
                    description=str(exc),
                    allow_retries=exc.retryable,
                    metadata={"confirmed_before_failure": sum(outcomes.values())},
                ) from exc
            batches += 1
            results = _outcomes(answer, batch)
            with db.connection() as conn:
                for delivery in batch:
                    status, reason = results[delivery.wp_id]
                    summaries_sql.record_delivery(
                        conn,
                        delivery,
                        status="delivered" if status in DELIVERED else "skipped",
                        note=reason if status == "skipped" else status,
                    )
                    outcomes[status] += 1
            context.log.info(f"batch {batches}: {dict(outcomes)}")
    return dg.MaterializeResult(
        metadata={
            "sent": sum(outcomes.values()),
            "batches": batches,
            "stored": outcomes["stored"],
            "unchanged": outcomes["unchanged"],
            "stale": outcomes["stale"],
            "skipped_by_wordpress": outcomes["skipped"],
            "seconds": clock["seconds"],
        }
    )
