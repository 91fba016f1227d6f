"""`chunks`: heading-aware chunk drafts within the embedder's real token limit.

A document that cannot be chunked is recorded and taken out of the index; the rest go on.
The changed documents are chunked in shards, each its own step (assets/indexing/shards.py);
a shard of many documents is chunked on all cores (resources/cpu_pool.py).
"""

from collections.abc import Iterable
from itertools import islice

import dagster as dg
import psycopg

from pressrag.assets.indexing.common import IndexConfig, Progress, site_of, site_partitions, timed
from pressrag.assets.indexing.failures import StageFailures, write_all_or_each
from pressrag.assets.indexing.shards import (
    Shard,
    ShardResult,
    plan_op,
    result_out,
    stage_config,
    sum_op,
    where_it_ran,
)
from pressrag.assets.transforms.chunking import Chunker
from pressrag.resources.cpu_pool import Failed, map_each, processes_for
from pressrag.resources.dagster_resources import EmbedderResource, StoreResource
from pressrag.resources.models import ChunkDraft
from pressrag.resources.settings import get_settings
from pressrag.resources.store import documents as docs_sql

plan_chunking = plan_op("plan_chunking", "chunk")


# Documents whose drafts are saved in one savepoint (four statements instead of four each).
DOCS_PER_SAVE = 64


@dg.op(out=result_out())
def chunk_shard(
    context: dg.OpExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    embedder: EmbedderResource,
    shard: Shard,
) -> dg.Output[ShardResult]:
    db = store.get()
    site = site_of(context, db)
    settings = get_settings()
    model = embedder.get()
    with db.connection() as conn:
        pending = docs_sql.pending_chunking(
            conn, site.id, force=config.force_reembed, id_range=shard.id_range
        )
    progress = Progress(context, "chunking", len(pending))
    failures = StageFailures(context, "chunk", settings.quarantine_after_failures)

    chunker = Chunker(
        count_tokens=model.count_tokens,
        max_tokens=model.max_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
        target_tokens=settings.chunk_target_tokens,
    )
    # Many documents are chunked on worker processes while groups are saved here.
    documents = [(r["title"], r["extracted_text"] or "") for r in pending]
    outcomes = map_each(
        chunker,
        documents,
        processes=processes_for(settings),
        characters=sum(len(text) for _, text in documents),
    )
    made = tokens = 0
    with timed() as clock, db.connection() as conn:
        for start in range(0, len(pending), DOCS_PER_SAVE):
            group = pending[start : start + DOCS_PER_SAVE]
            drafts = chunked(conn, group, islice(outcomes, len(group)), failures)
            for doc_id in save_group(conn, group, drafts, failures):
                made += len(drafts[doc_id])
                tokens += sum(d.token_count for d in drafts[doc_id])
            progress.advance(len(group))
    counts = {
        "documents": len(pending),
        "chunks": made,
        "tokens": tokens,
        "documents_on_workers": outcomes.on_workers,
    }
    result = ShardResult.of(
        {**counts, "duration_seconds": clock["seconds"]}, failures, max_tokens=model.max_tokens
    )
    return dg.Output(result, metadata=where_it_ran())


def chunked(
    conn: psycopg.Connection,
    group: list[dict],
    outcomes: Iterable[list[ChunkDraft] | Failed],
    failures: StageFailures,
) -> dict[int, list[ChunkDraft]]:
    """Each document's drafts by id; a document the chunker failed on is recorded, not raised
    (chunking touches no table, so it needs no savepoint of its own)."""
    drafts: dict[int, list[ChunkDraft]] = {}
    for row, outcome in zip(group, outcomes, strict=True):
        if isinstance(outcome, Failed):
            failures.record(conn, row, outcome.error)
        else:
            drafts[row["id"]] = outcome
    return drafts


def save_group(
    conn: psycopg.Connection,
    group: list[dict],
    drafts: dict[int, list[ChunkDraft]],
    failures: StageFailures,
) -> set[int]:
    """Save a group's drafts in one savepoint; if that fails, one document at a time, so a
    failure costs only its document (as publishing does). The ids saved."""
    rows = [r for r in group if r["id"] in drafts]

    def save(some: list[dict]) -> set[int]:
        return docs_sql.save_many_drafts(
            conn, [(r["id"], r["content_hash"], drafts[r["id"]]) for r in some]
        )

    return write_all_or_each(conn, rows, save, failures)


sum_chunking = sum_op("sum_chunking")


@dg.graph_asset(
    partitions_def=site_partitions,
    group_name="indexing",
    kinds={"python", "postgres"},
    ins={"extracted_text": dg.AssetIn(dagster_type=dg.Nothing)},
    config=stage_config("plan_chunking", "chunk_shard", "sum_chunking"),
    description="Chunk drafts (heading path, text, token count) of changed documents.",
)
def chunks(extracted_text):
    return sum_chunking(plan_chunking(after=extracted_text).map(chunk_shard).collect())
