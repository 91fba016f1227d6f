"""`summaries`: one summary per public document and media file, for its current content.

Downstream of `extracted_text` and run by the eager automation condition when a site's text is
updated. Only documents whose content hash changed since they were summarised are pending, so
an unchanged site costs no generator call; `regenerate_wp_ids` (the editor's "regenerate") and
`force` redo summaries on purpose. A document that fails is recorded on its summary row and
the run goes on; five failures in a row (the model is down) stop the run with what is done
kept.
"""

from collections import Counter

import dagster as dg
from pydantic import Field

from assets.indexing.common import Progress, site_of, site_partitions, timed
from assets.indexing.text import extracted_text
from resources.dagster_resources import StoreResource
from resources.writeback import store as summaries_sql
from resources.writeback.dagster_resources import SummariserResource
from resources.writeback.store import PendingSummary
from resources.writeback.summarisers import (
    Summariser,
    SummaryInput,
    SummaryStyle,
    style_for,
    word_count,
)

COMMIT_EVERY = 10
MAX_FAILURES_IN_A_ROW = 5


class SummaryConfig(dg.Config):
    """Empty (what automation and backfills use): summarise what changed since last time."""

    regenerate_wp_ids: list[int] = Field(default_factory=list)
    force: bool = False


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
        return "failed", None, None, f"{type(exc).__name__}: {exc}"
    return "summarised", result.text, result.language, None


@dg.asset(
    partitions_def=site_partitions,
    group_name="writeback",
    kinds={"python", "postgres"},
    deps=[extracted_text],
    pool="summaries",
    automation_condition=dg.AutomationCondition.eager(),
    description="A summary of every public document whose content changed since it was "
    "summarised (chat model when configured, else extractive).",
)
def summaries(
    context: dg.AssetExecutionContext,
    config: SummaryConfig,
    store: StoreResource,
    summariser: SummariserResource,
) -> dg.MaterializeResult:
    db = store.get()
    site = site_of(context, db)
    style = style_for(site.settings)
    generator = summariser.get()
    with db.connection() as conn:
        removed = summaries_sql.remove_non_public(conn, site.id)
        pending = summaries_sql.pending_summaries(
            conn, site.id, regenerate_wp_ids=config.regenerate_wp_ids, force=config.force
        )
    context.log.info(
        f"{len(pending)} documents to summarise with {generator.generator} ({generator.model})"
    )
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    in_a_row = 0
    progress = Progress(context, "summarising", len(pending))
    with timed() as clock, db.connection() as conn:
        for n, doc in enumerate(pending, start=1):
            status, text, language, detail = summarise_one(generator, site.id, doc, style)
            summaries_sql.save_summary(
                conn,
                doc,
                status=status,
                generator=generator.generator,
                model=generator.model,
                summary=text,
                language=language,
                detail=detail,
            )
            outcomes[status] += 1
            in_a_row = in_a_row + 1 if status == "failed" else 0
            if status == "failed":
                failures.append(f"{doc.wp_id} ({doc.title!r}): {detail}")
                context.log.warning(f"document {doc.wp_id}: {detail}")
            if n % COMMIT_EVERY == 0:
                conn.commit()  # keep progress if the run dies
            progress.advance()
            if in_a_row >= MAX_FAILURES_IN_A_ROW:
                conn.commit()
                raise dg.Failure(
                    description=f"{in_a_row} documents in a row could not be summarised; "
                    f"the last: {detail}",
                    metadata={"summarised": outcomes["summarised"], "failed": outcomes["failed"]},
                )
    with db.connection() as conn:
        totals = summaries_sql.counts(conn, site.id)
    return dg.MaterializeResult(
        metadata={
            "pending": len(pending),
            "summarised": outcomes["summarised"],
            "skipped": outcomes["skipped"],
            "failed": outcomes["failed"],
            "generator_calls": outcomes["summarised"] + outcomes["failed"],
            "removed_not_public": removed,
            "generator": generator.generator,
            "model": generator.model,
            "words": style.words,
            "language": style.language or "the document's own",
            "site_totals": totals,
            "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures[:50]) or "none"),
            "seconds": clock["seconds"],
        }
    )
