"""`summaries_to_wordpress`: new summaries sent to each site's plugin by signed callbacks.

Batches of `BATCH_SIZE` in one `summaries.deliver` message each. What WordPress confirmed is
recorded per summary version at once, so a step retried by the `RetryPolicy` sends only the
rest, and a version WordPress already has is never sent again. WordPress answers per item:
`stored`, `unchanged` (it had this version: a resend after a lost answer lands once), `stale`
(it has a newer one) or `skipped` (not public there any more, or gone) — the last check against
WordPress's own state at the moment of writing.

One site's trouble never stops another's delivery: every site is tried, then the step fails
naming the sites that failed (retried when any failure may pass). WXR sites have no WordPress
to write to, and a site without the plugin answers 404 `rest_no_route`: their summaries stay in
PressRAG (`pressrag summaries --site S`), which is no failure.
"""

from collections import Counter
from dataclasses import dataclass, field

import dagster as dg

from pressrag.assets.indexing.common import timed
from pressrag.assets.writeback.common import WritebackConfig, sites_of
from pressrag.assets.writeback.summaries import summaries
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.errors import ConfigError
from pressrag.resources.store import Store
from pressrag.resources.store.sites import Site
from pressrag.resources.writeback import store as summaries_sql
from pressrag.resources.writeback.callbacks import CallbackError, WordPressCallbacks
from pressrag.resources.writeback.dagster_resources import WordPressCallbackResource
from pressrag.resources.writeback.store import Delivery

BATCH_SIZE = 25
DELIVERED = {"stored", "unchanged", "stale"}
KEPT_IN_PRESSRAG = (
    "kept in PressRAG only: read from a WXR export, so there is no WordPress to write to"
)
WRITEBACK_OFF = "write-back is off (`pressrag sites add SITE --url … --writeback` turns it on)"


@dataclass
class Outcome:
    """One site's delivery: counts per WordPress answer, or why nothing was written."""

    counts: Counter[str] = field(default_factory=Counter)
    note: str = ""
    error: CallbackError | None = None


def _results(answer: dict, batch: list[Delivery]) -> dict[int, tuple[str, str | None]]:
    """wp_id → (status, reason) from the plugin's answer; a missing item is a protocol error."""
    results = answer.get("results")
    by_id: dict[int, tuple[str, str | None]] = {}
    for item in results if isinstance(results, list) else []:
        if isinstance(item, dict) and isinstance(item.get("wp_id"), int):
            by_id[item["wp_id"]] = (str(item.get("status", "")), item.get("reason"))
    known = {*DELIVERED, "skipped"}
    missing = [d.wp_id for d in batch if by_id.get(d.wp_id, ("",))[0] not in known]
    if missing:
        raise CallbackError(
            f"WordPress's answer has no valid result for posts {missing[:10]}", retryable=False
        )
    return by_id


def deliver_site(db: Store, site: Site, client: WordPressCallbacks) -> Outcome:
    """Every pending summary of one site, in batches; stops at the site's first failure."""
    outcome = Outcome()
    after = 0
    while True:
        with db.connection() as conn:
            batch = summaries_sql.pending_deliveries(
                conn, site.id, limit=BATCH_SIZE, after_document_id=after
            )
        if not batch:
            return outcome
        after = batch[-1].document_id
        try:
            results = _results(
                client.send(
                    {
                        "type": "summaries.deliver",
                        "site": site.id,
                        "items": [d.as_item() for d in batch],
                    }
                ),
                batch,
            )
        except CallbackError as exc:
            if exc.no_route and not outcome.counts:
                # Any public WordPress can be indexed; without the plugin there is nothing to
                # write to. Delivered once the plugin is there.
                outcome.note = f"{exc}; summaries are kept in PressRAG"
            else:
                outcome.error = exc
            return outcome
        with db.connection() as conn:
            for delivery in batch:
                status, reason = results[delivery.wp_id]
                summaries_sql.record_delivery(
                    conn,
                    delivery,
                    status="delivered" if status in DELIVERED else "skipped",
                    note=reason if status == "skipped" else status,
                )
                outcome.counts[status] += 1


def _report(outcomes: dict[str, Outcome]) -> str:
    lines = ["| site | stored | unchanged | stale | skipped | note |", "|---|---|---|---|---|---|"]
    for site, o in outcomes.items():
        c = o.counts
        note = str(o.error) if o.error else o.note
        if c or note:
            lines.append(
                f"| {site} | {c['stored']} | {c['unchanged']} | {c['stale']} | "
                f"{c['skipped']} | {note} |"
            )
    return "\n".join(lines) if len(lines) > 2 else "nothing to send"


@dg.asset(
    group_name="writeback",
    kinds={"wordpress"},
    deps=[summaries],
    automation_condition=dg.AutomationCondition.eager(),
    retry_policy=dg.RetryPolicy(
        max_retries=4, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    description="New summaries written to WordPress post meta through each site's plugin "
    "(signed callbacks; WXR sites keep them in PressRAG).",
)
def summaries_to_wordpress(
    context: dg.AssetExecutionContext,
    config: WritebackConfig,
    store: StoreResource,
    callbacks: WordPressCallbackResource,
) -> dg.MaterializeResult:
    db = store.get()
    outcomes: dict[str, Outcome] = {}
    with timed() as clock:
        for site in sites_of(config, db):
            if site.source_kind != "rest":
                outcomes[site.id] = Outcome(note=KEPT_IN_PRESSRAG)
            elif site.settings.get("writeback") is False:
                outcomes[site.id] = Outcome(note=WRITEBACK_OFF)
            else:
                try:
                    client = callbacks.client_for(site)
                except ConfigError as exc:
                    outcomes[site.id] = Outcome(error=CallbackError(str(exc), retryable=False))
                    continue
                outcomes[site.id] = deliver_site(db, site, client)
            outcome = outcomes[site.id]
            if outcome.counts or outcome.note or outcome.error:
                context.log.info(
                    f"{site.id}: {dict(outcome.counts)} {outcome.error or outcome.note}"
                )
    totals: Counter[str] = sum((o.counts for o in outcomes.values()), Counter())
    metadata = {
        "sent": sum(totals.values()),
        "stored": totals["stored"],
        "unchanged": totals["unchanged"],
        "stale": totals["stale"],
        "skipped_by_wordpress": totals["skipped"],
        "per_site": dg.MetadataValue.md(_report(outcomes)),
        "duration_seconds": clock["seconds"],
    }
    failed = {site: o.error for site, o in outcomes.items() if o.error}
    if failed:
        raise dg.Failure(
            description="; ".join(f"{site}: {error}" for site, error in failed.items()),
            allow_retries=any(error.retryable for error in failed.values()),
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)
