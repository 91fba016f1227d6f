"""`summaries`: one summary per public document and media file, for its current content.

Downstream of every site's `extracted_text`, run by the eager automation condition when a
site's text is updated (see `common.py` for why it is one asset for all sites). Only documents
whose summarised content changed are pending, so an unchanged site costs no generator call;
`regenerate_wp_ids` (the editor's "regenerate") and `force` redo summaries on purpose. A
document that fails is recorded on its summary row and the run goes on; five failures in a
row (the model is down) stop the run with what is done kept.
"""

from collections import Counter

import dagster as dg

from pressrag.assets.indexing.common import Progress, timed
from pressrag.assets.indexing.failures import describe_failure
from pressrag.assets.indexing.text import extracted_text
from pressrag.assets.writeback.common import WritebackConfig, sites_of
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.store import Store
from pressrag.resources.store.sites import Site
from pressrag.resources.writeback import store as summaries_sql
from pressrag.resources.writeback.dagster_resources import SummariserResource
from pressrag.resources.writeback.store import PendingSummary
from pressrag.resources.writeback.summarisers import (
    Summariser,
    SummaryInput,
    SummaryStyle,
    style_for,
    word_count,
)

COMMIT_EVERY = 10
MAX_FAILURES_IN_A_ROW = 5
OUTCOMES = ("summarised", "skipped", "failed")


def summarise_one(
    generator: Summariser, site_id: str, doc: PendingSummary, style: SummaryStyle
) -> tuple[str, str | None, str | None, str | None]:
    """(status, summary, language, detail) for one document; never raises for the document's
    own problems — they become a `failed` outcome."""
    words = word_count(doc.text)
    if words < style.min_words:
        return "skipped", None, None, f"shorter than {style.min_words} words ({words})"
    try:
        result = generator.summarise(
            site_id, SummaryInput(doc.title, doc.text, doc.language), style
        )
    except Exception as exc:  # one bad document never stops a site
        # Stored, logged and shown in metadata: without secrets, one line, bounded.
        error_class, message = describe_failure(exc)
        return "failed", None, None, f"{error_class}: {message}"
    return "summarised", result.text, result.language, None


class SiteRun:
    """Summarises one site's pending documents, counting outcomes and failures in a row."""

    def __init__(self, context: dg.AssetExecutionContext, generator: Summariser) -> None:
        self.context, self.generator = context, generator
        self.in_a_row = 0
        self.failures: list[str] = []

    def run(self, db: Store, site: Site, config: WritebackConfig) -> Counter[str]:
        style = style_for(site.settings)
        outcomes: Counter[str] = Counter()
        with db.connection() as conn:
            outcomes["removed_not_public"] = summaries_sql.remove_non_public(conn, site.id)
            pending = summaries_sql.pending_summaries(
                conn, site.id, regenerate_wp_ids=config.regenerate_wp_ids, force=config.force
            )
        outcomes["pending"] = len(pending)
        progress = Progress(self.context, f"summarising {site.id}", len(pending))
        with db.connection() as conn:
            for n, doc in enumerate(pending, start=1):
                status = self._one(conn, site, doc, style)
                outcomes[status] += 1
                if n % COMMIT_EVERY == 0:
                    conn.commit()  # keep progress if the run dies
                progress.advance()
                if self.in_a_row >= MAX_FAILURES_IN_A_ROW:
                    conn.commit()
                    raise dg.Failure(
                        description=f"{self.in_a_row} documents in a row could not be "
                        f"summarised; the last: {self.failures[-1]}",
                    )
        return outcomes

    def _one(self, conn, site: Site, doc: PendingSummary, style: SummaryStyle) -> str:
        status, text, language, detail = summarise_one(self.generator, site.id, doc, style)
        summaries_sql.save_summary(
            conn,
            doc,
            status=status,
            generator=self.generator.generator,
            model=self.generator.model,
            summary=text,
            language=language,
            detail=detail,
        )
        self.in_a_row = self.in_a_row + 1 if status == "failed" else 0
        if status == "failed":
            self.failures.append(f"{site.id}:{doc.wp_id} ({doc.title!r}): {detail}")
            self.context.log.warning(f"{site.id} document {doc.wp_id}: {detail}")
        return status


# Eager, except that it does not wait for every site: `extracted_text` has a partition per
# site, and eager() waits until none is missing or in progress — one site whose first index
# failed (or a busy one) held back every site's summaries. And a change counts as handled
# only once summaries are requested after it:
# - eager() also takes any materialization of `summaries` as handling it, so a run that
#   started before an edit and ended in the same tick as the edit's new text swallowed that
#   edit (its summary waited for the next edit);
# - the tick after a request sees that request as `newly_requested`, so new text that lands
#   between the two ticks was taken as handled by a request made before it. `since` keeps the
#   change when its time is later than the request's, but only for conditions that carry
#   their times: `newly_updated` through `any_deps_match` and a bare `newly_requested` do,
#   and/or/not of them do not. Hence each trigger has a `since` of its own.
_REQUESTED = dg.AutomationCondition.newly_requested()
SUMMARISE_WHEN = (
    (
        dg.AutomationCondition.newly_missing().since(_REQUESTED)
        | dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).since(
            _REQUESTED
        )
    )
    & ~dg.AutomationCondition.in_progress()
).with_label("any site's text changed since summaries were last requested")


@dg.asset(
    group_name="writeback",
    kinds={"python", "postgres"},
    deps=[extracted_text],
    pool="summaries",
    automation_condition=SUMMARISE_WHEN,
    description="A summary of every public document whose text changed since it was "
    "summarised, on every site (chat model when configured, else extractive).",
)
def summaries(
    context: dg.AssetExecutionContext,
    config: WritebackConfig,
    store: StoreResource,
    summariser: SummariserResource,
) -> dg.MaterializeResult:
    db = store.get()
    sites = sites_of(config, db)
    generator = summariser.get()
    context.log.info(f"{len(sites)} sites, generator {generator.generator} ({generator.model})")
    runner = SiteRun(context, generator)
    per_site: dict[str, Counter[str]] = {}
    with timed() as clock:
        for site in sites:
            per_site[site.id] = runner.run(db, site, config)
    totals: Counter[str] = sum(per_site.values(), Counter())
    rows = [
        f"| {site} | {c['pending']} | {c['summarised']} | {c['skipped']} | {c['failed']} |"
        for site, c in per_site.items()
        if c["pending"] or c["removed_not_public"]
    ]
    table = "| site | pending | summarised | skipped | failed |\n|---|---|---|---|---|\n"
    return dg.MaterializeResult(
        metadata={
            "sites": len(sites),
            "pending": totals["pending"],
            **{outcome: totals[outcome] for outcome in OUTCOMES},
            "generator_calls": totals["summarised"] + totals["failed"],
            "removed_not_public": totals["removed_not_public"],
            "generator": generator.generator,
            "model": generator.model,
            "per_site": dg.MetadataValue.md(table + "\n".join(rows) if rows else "no changes"),
            "failures": dg.MetadataValue.md(
                "\n".join(f"- {f}" for f in runner.failures[:50]) or "none"
            ),
            "duration_seconds": clock["seconds"],
        }
    )
