"""`embeddings`: vectors for chunk drafts, then the atomic swap into live chunks.

The changed documents are embedded in shards, each its own step (assets/indexing/shards.py):
a shard puts its vectors into the embedding cache; `publish` then swaps every document that
got its vectors into the live index. Vectors come from the embedding cache when (model,
chunk hash) was embedded before, so an unchanged chunk is never embedded twice; only misses
go to the model. Each document's live chunks are replaced in one transaction (invariant 1).

A batch whose embedding call fails is embedded again one document at a time, so one bad
input costs only its document, which is recorded as failed; the others are published. A
failure is only blamed on a document once the embedder has shown that it works (earlier in
the step, or on a probe text): an embedder that fails on everything fails the run instead,
which Dagster retries, rather than quarantining a whole site.
"""

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain

import dagster as dg
import numpy as np
import psycopg

from pressrag.assets.indexing.common import IndexConfig, Progress, site_of, site_partitions, timed
from pressrag.assets.indexing.failures import (
    StageFailures,
    describe_failure,
    write_all_or_each,
)
from pressrag.assets.indexing.shards import (
    Shard,
    ShardResult,
    result_out,
    shard_out,
    shard_outputs,
    stage_config,
    summed,
    where_it_ran,
)
from pressrag.resources.dagster_resources import EmbedderResource, StoreResource
from pressrag.resources.embedders import Embedder
from pressrag.resources.errors import ConfigError
from pressrag.resources.gateway.metering import MeteredEmbedder
from pressrag.resources.settings import Settings, get_settings
from pressrag.resources.store import Store
from pressrag.resources.store import chunks as chunks_sql
from pressrag.resources.store import documents as docs_sql
from pressrag.resources.store import statistics as statistics_sql
from pressrag.resources.store import status as status_sql
from pressrag.resources.store.sites import Site
from pressrag.resources.store.spaces import (
    EmbeddingSpace,
    bulk_hnsw_load,
    ensure_hnsw_index,
    ensure_space,
    space_rows_below,
)

# Documents per round trip (drafts read, vectors written, chunks swapped in). The embed step
# reads this many for each request it may keep in flight: 256 documents are ~1,200 texts,
# five slices, so four requests at a time would make each batch two rounds, the second one
# slice alone (`embed_batch_size`).
DOCS_PER_BATCH = 256
# Connections publishing batches of new documents at once (`_publish_all`).
PUBLISHERS = 2
# Texts per call to the model. Texts are sorted by length first, so each call pads little:
# per-document calls were ~15% slower than the embedder on the same texts at once.
TEXTS_PER_CALL = 256
PROBE_TEXT = "probe"
# Chunks shown in the catalog's preview of the index.
PREVIEW_ROWS = 5
_PREVIEW_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("title", "text", description="the document's title"),
        dg.TableColumn("heading", "text", description="the chunk's heading path"),
        dg.TableColumn("tokens", "int", description="word pieces in the chunk"),
    ]
)
_CHUNK_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("document_id", "bigint"),
        dg.TableColumn("ordinal", "int", description="position in the document"),
        dg.TableColumn("title", "text"),
        dg.TableColumn("heading_path", "text[]"),
        dg.TableColumn("text", "text"),
        dg.TableColumn("token_count", "int"),
        dg.TableColumn("embedding", "vector", description="the model's unit vector"),
        dg.TableColumn("tsv", "tsvector", description="title (A), headings (B), text"),
    ]
)


def embed_by_length(
    model: Embedder,
    texts: list[str],
    on_progress: Callable[[int], None],
    calls: int | None = None,
) -> np.ndarray:
    """Embed `texts` in length-sorted slices, up to `calls` (by default
    `model.concurrent_calls`) of them at once; rows come back in the original order. The
    first failed slice's error is raised, and the slices not yet sent are not sent."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    slices = [order[i : i + TEXTS_PER_CALL] for i in range(0, len(order), TEXTS_PER_CALL)]
    out = np.empty((len(texts), model.dimension), dtype=np.float32)

    def embedded(rows: list[int]) -> np.ndarray:
        return np.asarray(model.embed([texts[i] for i in rows]), dtype=np.float32)

    def fill(results: Iterable[np.ndarray]) -> np.ndarray:
        for rows, vectors in zip(slices, results, strict=True):
            out[rows] = vectors
            on_progress(len(rows))
        return out

    workers = min(calls or model.concurrent_calls, len(slices))
    if workers <= 1:
        return fill(map(embedded, slices))
    with ThreadPoolExecutor(workers, thread_name_prefix="embed") as pool:
        return fill(pool.map(embedded, slices))  # a failure cancels the calls not yet started


class DraftCounts:
    """The embedder, answering `count_tokens` from the chunk drafts' own counts.

    The usage meter counts the tokens of every text it embeds; the chunker already counted
    each draft's `embed_text` exactly, with this embedder's tokenizer (`token_count`), and
    counting again cost ~1.5 µs a character, ~1 % of the local model's own time. A text the
    drafts do not know (a probe) is counted by the model's counter."""

    def __init__(self, model: Embedder) -> None:
        self.model = model
        self.model_id = model.model_id
        self.dimension = model.dimension
        self.max_tokens = model.max_tokens
        self.concurrent_calls = model.concurrent_calls
        self.known: dict[str, int] = {}

    def remember(self, drafts: dict[int, list[dict]]) -> None:
        """The counts of a batch's drafts (the previous batch's are forgotten)."""
        self.known = {r["embed_text"]: r["token_count"] for rows in drafts.values() for r in rows}

    def count_tokens(self, text: str) -> int:
        known = self.known.get(text)
        return known if known is not None else self.model.count_tokens(text)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.embed(texts)


def embed_batch_size(model: Embedder) -> int:
    """Documents the embed step reads at a time: `DOCS_PER_BATCH` for each call the model
    takes at once, so that the requests of a batch keep every one of them busy."""
    return DOCS_PER_BATCH * max(1, model.concurrent_calls)


class IsolatingEmbedder:
    """Vectors for a batch's missing chunk hashes, isolating documents whose texts fail."""

    def __init__(self, model: Embedder, on_progress: Callable[[int], None]) -> None:
        self.model = model
        self.on_progress = on_progress
        self.works = False  # the model has returned vectors in this step

    def embed(self, hashes: list[str], texts: dict[str, str]) -> dict[str, np.ndarray]:
        vectors = embed_by_length(self.model, [texts[h] for h in hashes], self.on_progress)
        self.works = True
        return dict(zip(hashes, vectors, strict=True))

    def embed_batch(
        self, doc_drafts: dict[int, list[dict]], misses: list[str], texts: dict[str, str]
    ) -> tuple[dict[str, np.ndarray], dict[int, Exception]]:
        """(vectors by hash, exception by document id of the documents that failed)."""
        if not misses:
            return {}, {}
        try:
            return self.embed(misses, texts), {}
        except Exception:
            pass  # retried per document below; only those that fail again are recorded
        fresh: dict[str, np.ndarray] = {}
        broken: dict[int, Exception] = {}
        for doc_id, outcome in self._each_document(doc_drafts, misses, texts):
            if isinstance(outcome, Exception):
                broken[doc_id] = outcome
            else:
                fresh.update(outcome)
                self.on_progress(len(outcome))  # here, in the step's thread
        if broken:
            self.require_working(next(iter(broken.values())))
        return fresh, broken

    def _each_document(
        self, doc_drafts: dict[int, list[dict]], misses: list[str], texts: dict[str, str]
    ) -> Iterator[tuple[int, dict[str, np.ndarray] | Exception]]:
        """Each document's missing vectors embedded on their own, or what that raised; as many
        documents at once as the model takes calls (each one's slices then one at a time). A
        text two documents share is embedded for each: whether one of them fails must not
        depend on which the other reached first."""
        wanted = set(misses)

        def own(doc_id: int) -> dict[str, np.ndarray] | Exception:
            hashes = [
                h
                for h in dict.fromkeys(r["content_hash"] for r in doc_drafts[doc_id])
                if h in wanted
            ]
            if not hashes:
                return {}
            try:
                vectors = embed_by_length(
                    self.model, [texts[h] for h in hashes], lambda n: None, calls=1
                )
            except Exception as exc:
                return exc
            self.works = True
            return dict(zip(hashes, vectors, strict=True))

        workers = min(self.model.concurrent_calls, len(doc_drafts))
        if workers <= 1:
            yield from ((doc_id, own(doc_id)) for doc_id in doc_drafts)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="embed-each") as pool:
            yield from zip(doc_drafts, pool.map(own, doc_drafts), strict=True)

    def require_working(self, cause: Exception) -> None:
        """Raise `dg.Failure` unless the model embeds something: then no document is to blame."""
        if self.works:
            return
        try:
            self.model.embed([PROBE_TEXT])
        except Exception as exc:
            error_class, message = describe_failure(cause)
            raise dg.Failure(
                description=f"the embedder fails on every input ({error_class}: {message}); "
                "no document was blamed, the run can be retried"
            ) from exc
        self.works = True


def publish_batch(
    conn: psycopg.Connection,
    site: Site,
    space: EmbeddingSpace,
    docs: list[dict],
    failures: StageFailures,
) -> set[int]:
    """Publish a batch's documents with one statement each for all of them (one savepoint);
    if that fails, one document at a time, so a failure costs only its document. The ids
    published."""

    def publish(some: list[dict]) -> set[int]:
        return chunks_sql.publish_documents_chunks(
            conn,
            site_id=site.id,
            documents=[(d["id"], d["content_hash"]) for d in some],
            space=space,
            ts_config=site.ts_config,
        )

    return write_all_or_each(conn, docs, publish, failures)


def _space(store: Store, model: Embedder) -> EmbeddingSpace:
    """The model's embedding space (registered on a first index); a configured model that is
    not the active space's is refused with both names."""
    try:
        with store.connection() as conn:
            return ensure_space(conn, model.model_id, model.dimension)
    except ConfigError as exc:
        raise dg.Failure(str(exc)) from exc


@dg.op(ins={"after": dg.In(dg.Nothing)}, out=shard_out())
def plan_embedding(
    context: dg.OpExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    embedder: EmbedderResource,
) -> Iterator[dg.DynamicOutput[Shard]]:
    db = store.get()
    site = site_of(context, db)
    model = embedder.for_site(site.id)
    _space(db, model)  # once, before shards would race to register it
    # The whole queue against the site's budget, before any shard spends it.
    with db.connection() as conn:
        pending = docs_sql.pending_embedding(conn, site.id, force=config.force_reembed)
        overrun = model.budget_overrun(
            conn, site.settings, [d["id"] for d in pending], force=config.force_reembed
        )
    if overrun:
        raise dg.Failure(f"{overrun}; nothing was embedded (pressrag budget --site {site.id})")
    yield from shard_outputs(context, db, site.id, "embed", config.force_reembed)


@dg.op(pool="embeddings", out=result_out())
def embed_shard(
    context: dg.OpExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    embedder: EmbedderResource,
    shard: Shard,
) -> dg.Output[ShardResult]:
    """Vectors for the shard's chunk drafts, into the embedding cache; `publish` swaps them in."""
    db = store.get()
    site = site_of(context, db)
    counts = DraftCounts(embedder.get())
    model = MeteredEmbedder(counts, site.id)  # every call counted in the usage ledger
    with db.connection() as conn:
        pending = docs_sql.pending_embedding(
            conn, site.id, force=config.force_reembed, id_range=shard.id_range
        )
        total_drafts = conn.execute(
            "SELECT count(*) FROM chunk_drafts WHERE document_id = ANY(%s)",
            ([d["id"] for d in pending],),
        ).fetchone()[0]
    progress = Progress(context, "embedding chunks", total_drafts)
    failures = StageFailures(context, "embed", get_settings().quarantine_after_failures)
    isolating = IsolatingEmbedder(model, progress.advance)
    embedded = cache_hits = tokens = 0
    embed_seconds = 0.0
    failed_ids: list[int] = []
    per_batch = embed_batch_size(model)
    with timed() as clock:
        for start in range(0, len(pending), per_batch):
            batch = pending[start : start + per_batch]
            with db.connection() as conn:
                drafts = docs_sql.drafts_for(conn, [d["id"] for d in batch])
                counts.remember(drafts)
                wanted = {r["content_hash"]: r for rows in drafts.values() for r in rows}
                cached = (
                    {}
                    if config.force_reembed
                    else chunks_sql.cached_vectors(conn, model.model_id, wanted)
                )
            misses = [h for h in wanted if h not in cached]
            progress.advance(len(wanted) - len(misses))
            t0 = time.perf_counter()
            fresh, broken = isolating.embed_batch(
                drafts, misses, {h: wanted[h]["embed_text"] for h in misses}
            )
            embed_seconds += time.perf_counter() - t0
            embedded += len(fresh)
            tokens += sum(wanted[h]["token_count"] for h in fresh)
            cache_hits += len(wanted) - len(misses)
            with db.connection() as conn:
                chunks_sql.store_vectors(conn, model.model_id, fresh)
                for doc in batch:
                    if doc["id"] in broken:
                        failures.record(conn, doc, broken[doc["id"]])
            failed_ids += broken
    counts = {
        "chunks_embedded": embedded,
        "cache_hits": cache_hits,
        "tokens_embedded": tokens,
        "embedding_duration_seconds": round(embed_seconds, 3),
        "duration_seconds": clock["seconds"],
    }
    model.flush()  # the shard's calls are in the ledger when its step ends
    result = ShardResult.of(counts, failures, model=model.model_id)
    result.failed_ids = failed_ids
    return dg.Output(result, metadata=where_it_ran())


@dg.op(out=dg.Out(dg.Nothing))
def publish(
    context: dg.OpExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    embedder: EmbedderResource,
    shards: list[ShardResult],
) -> None:
    """Swap every document whose vectors the shards made into the live index, a batch of
    documents per statement, and record the run's outcome."""
    db = store.get()
    site = site_of(context, db)
    model = embedder.get()
    space = _space(db, model)
    failed_ids = {i for r in shards for i in r.failed_ids}
    with db.connection() as conn:
        pending = [
            d
            for d in docs_sql.pending_embedding(conn, site.id, force=config.force_reembed)
            if d["id"] not in failed_ids
        ]
    settings = get_settings()
    failures = StageFailures(context, "embed", settings.quarantine_after_failures)
    with timed() as clock:
        with _index_load(context, db, space, pending, settings) as load:
            published, chunk_count = _publish_all(context, db, site, space, pending, failures)
        with db.connection() as conn:  # before the checks' searches plan against them
            analyzed = statistics_sql.analyze_stale(conn)
    if analyzed:
        context.log.info(f"planner statistics refreshed: {', '.join(analyzed)}")
    published_result = ShardResult.of({"duration_seconds": clock["seconds"]}, failures)
    totals = summed([*shards, published_result])
    stats = {
        "documents_indexed": published,
        "chunks_written": chunk_count,
        **{k: v for k, v in totals.items() if k != "failures"},
        "shards": len(shards),
        "model": model.model_id,
        "hnsw_index_built_after_load": load.bulk,
        **({"hnsw_build_seconds": load.build_seconds} if load.build_seconds is not None else {}),
    }
    with db.connection() as conn:
        # What no run will try again until its content changes or `pressrag retry`.
        stats["quarantined_total"] = status_sql.quarantined_count(conn, site.id)
        status_sql.finish_run(conn, context.run.run_id, "succeeded", stats)
        live, preview = chunks_sql.live_sample(conn, site.id, space.id, PREVIEW_ROWS)
    context.log.info(f"embeddings of {site.id}: {stats}")
    failures_md = {"failures": totals["failures"]} if "failures" in totals else {}
    context.add_output_metadata({**failures_md, **stats, **_table_metadata(live, preview)})


def _publish_all(
    context: dg.OpExecutionContext,
    db: Store,
    site: Site,
    space: EmbeddingSpace,
    pending: list[dict],
    failures: StageFailures,
) -> tuple[int, int]:
    """Publish `pending` a batch per transaction: (documents published, chunks written).

    Documents with no live chunks in the space yet (a first index, new posts) are published
    by `PUBLISHERS` connections at once, so PostgreSQL's per-chunk work (`to_tsvector`, heap,
    GIN) runs on more than one core. Such a batch's only shared rows are the search
    statistics', which its insert trigger takes in key order: writers wait for each other,
    never deadlock. Documents that have live chunks are published one batch at a time, since
    their delete trigger takes statistics rows too, and two such orders could cross.
    """
    with db.connection() as conn:
        live = chunks_sql.documents_with_chunks(conn, [d["id"] for d in pending], space)
    new_batches = _batches([d for d in pending if d["id"] not in live])
    old_batches = _batches([d for d in pending if d["id"] in live])
    progress = Progress(context, "publishing documents", len(pending))

    def publish_one(batch: list[dict]) -> tuple[int, int]:
        with db.connection() as conn:
            done = publish_batch(conn, site, space, batch, failures)
            chunks = chunks_sql.chunk_count(conn, done, space)
            docs_sql.clear_failures(conn, [d["id"] for d in batch])
        return len(done), chunks

    published = chunk_count = 0
    with ThreadPoolExecutor(PUBLISHERS, thread_name_prefix="publish") as publishers:
        outcomes = chain(
            zip(new_batches, publishers.map(publish_one, new_batches), strict=True),
            ((batch, publish_one(batch)) for batch in old_batches),
        )
        try:
            for batch, (documents, chunks) in outcomes:
                published += documents
                chunk_count += chunks
                progress.advance(len(batch))
        except BaseException:
            publishers.shutdown(cancel_futures=True)  # the run fails: publish no more
            raise
    return published, chunk_count


def _batches(documents: list[dict]) -> list[list[dict]]:
    return [documents[i : i + DOCS_PER_BATCH] for i in range(0, len(documents), DOCS_PER_BATCH)]


@dataclass
class IndexLoad:
    """How publishing went into the HNSW index: built once after the inserts (`bulk`), and
    then how long that build took (set when the load's context exits)."""

    bulk: bool
    build_seconds: float | None = None


@contextmanager
def _index_load(
    context: dg.OpExecutionContext,
    db: Store,
    space: EmbeddingSpace,
    pending: list[dict],
    settings: Settings,
) -> Iterator[IndexLoad]:
    """Around publishing: bulk when the space's HNSW index is built once after the inserts
    (a load of at least `bulk_index_min_chunks` chunks into a space that holds fewer; each
    insert into the graph costs ~7× its share of one build), else the index is made sure of
    (a run that died mid-load left none) and every insert goes into it."""
    with db.connection() as conn:
        rows = docs_sql.draft_count(conn, [d["id"] for d in pending])
        bulk = rows >= settings.bulk_index_min_chunks and space_rows_below(conn, space, rows)
        if not bulk:
            ensure_hnsw_index(conn, space)
    if not bulk:
        yield IndexLoad(bulk=False)
        return
    with bulk_hnsw_load(db.conninfo, space, 2 * rows) as taken:
        load = IndexLoad(bulk=taken)
        if taken:
            context.log.info(f"{rows} chunks: the HNSW index is built once after they are in")
        yield load
        started = time.perf_counter()
    if taken:
        load.build_seconds = round(time.perf_counter() - started, 3)
        context.log.info(f"HNSW index built in {load.build_seconds:.1f} s")


@dg.graph_asset(
    partitions_def=site_partitions,
    group_name="indexing",
    kinds={"pgvector"},
    ins={"chunks": dg.AssetIn(dagster_type=dg.Nothing)},
    config=stage_config("plan_embedding", "embed_shard", "publish"),
    description="Chunk vectors, swapped into the live index one document at a time.",
)
def embeddings(chunks):
    return publish(plan_embedding(after=chunks).map(embed_shard).collect())


def _table_metadata(live: int, preview: list[tuple[str, list[str], int]]) -> dict:
    """What the Dagster catalog shows for a table: its rows (the site's live chunks), its
    columns, and a few rows."""
    return {
        "dagster/row_count": live,
        "dagster/column_schema": _CHUNK_SCHEMA,
        "preview": dg.MetadataValue.table(
            records=[
                dg.TableRecord({"title": t, "heading": " › ".join(h), "tokens": n})
                for t, h, n in preview
            ],
            schema=_PREVIEW_SCHEMA,
        ),
    }
