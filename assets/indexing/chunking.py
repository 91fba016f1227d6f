"""`chunks`: heading-aware chunk drafts within the embedder's real token limit.

A document that cannot be chunked is recorded and taken out of the index; the rest go on.
"""

import dagster as dg

from pressrag.assets.indexing.common import IndexConfig, Progress, site_of, site_partitions, timed
from pressrag.assets.indexing.failures import StageFailures
from pressrag.assets.indexing.text import extracted_text
from pressrag.assets.transforms.chunking import chunk_document
from pressrag.resources.dagster_resources import EmbedderResource, StoreResource
from pressrag.resources.settings import get_settings
from pressrag.resources.store import documents as docs_sql


@dg.asset(
    partitions_def=site_partitions,
    group_name="indexing",
    kinds={"python", "postgres"},
    deps=[extracted_text],
    description="Chunk drafts (heading path, text, token count) of changed documents.",
)
def chunks(
    context: dg.AssetExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    embedder: EmbedderResource,
) -> dg.MaterializeResult:
    db = store.get()
    site = site_of(context, db)
    settings = get_settings()
    model = embedder.get()
    with db.connection() as conn:
        pending = docs_sql.pending_chunking(conn, site.id, force=config.force_reembed)
    progress = Progress(context, "chunking", len(pending))
    failures = StageFailures(context, "chunk", settings.quarantine_after_failures)
    made = tokens = 0
    with timed() as clock, db.connection() as conn:
        for row in pending:
            with failures.isolated(conn, row):
                drafts = chunk_document(
                    row["title"],
                    row["extracted_text"] or "",
                    count_tokens=model.count_tokens,
                    max_tokens=model.max_tokens,
                    overlap_tokens=settings.chunk_overlap_tokens,
                    target_tokens=settings.chunk_target_tokens,
                )
                if docs_sql.save_drafts(conn, row["id"], row["content_hash"], drafts):
                    made += len(drafts)
                    tokens += sum(d.token_count for d in drafts)
            progress.advance()
    return dg.MaterializeResult(
        metadata={
            "documents": len(pending),
            "chunks": made,
            "tokens": tokens,
            "max_tokens": model.max_tokens,
            **failures.metadata(),
            "duration_seconds": clock["seconds"],
        }
    )
