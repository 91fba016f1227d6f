"""The write-back's asset check: every public document has a current summary."""

import dagster as dg

from pressrag.assets.writeback.common import WritebackConfig, sites_of
from pressrag.assets.writeback.summaries import summaries
from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.writeback import store as summaries_sql


@dg.asset_check(
    asset=summaries,
    description="Every public document with extracted text has a summary of its current "
    "content (or a recorded reason to have none, such as being too short).",
)
def every_document_has_a_current_summary(
    config: WritebackConfig, store: StoreResource
) -> dg.AssetCheckResult:
    db = store.get()
    total, examples = 0, []
    with db.connection() as conn:
        for site in sites_of(config, db):
            count, missing = summaries_sql.missing_summaries(conn, site.id)
            total += count
            examples += [
                f"{site.id}:{m['wp_id']} {m['title']!r}: {m['status'] or 'never summarised'}"
                + (f" ({m['detail']})" if m["detail"] else "")
                for m in missing
            ]
    return dg.AssetCheckResult(
        passed=total == 0,
        metadata={"documents_without_current_summary": total, "examples": examples[:20]},
    )
