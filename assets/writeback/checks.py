"""The write-back's asset check: every public document of the site has a current summary."""

import dagster as dg

from assets.indexing.common import site_partitions
from assets.writeback.summaries import summaries
from resources.dagster_resources import StoreResource
from resources.writeback import store as summaries_sql


@dg.asset_check(
    asset=summaries,
    partitions_def=site_partitions,
    description="Every public document with extracted text has a summary of its current "
    "content (or a recorded reason to have none, such as being too short).",
)
def every_document_has_a_current_summary(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    with store.get().connection() as conn:
        total, missing = summaries_sql.missing_summaries(conn, context.partition_key)
    return dg.AssetCheckResult(
        passed=total == 0,
        metadata={
            "documents_without_current_summary": total,
            "examples": [
                f"{m['wp_id']} {m['title']!r}: {m['status'] or 'never summarised'}"
                + (f" ({m['detail']})" if m["detail"] else "")
                for m in missing
            ],
        },
    )
