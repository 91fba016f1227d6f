"""`wp_documents` and `wp_media`: what WordPress has, recorded with its visibility.

A full run lists everything and removes what is gone; a targeted run (webhook) fetches only
the named ids. Either way non-public objects are recorded as excluded and taken out of the
index in the same transaction (invariant 2).
"""

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import dagster as dg

from pressrag.assets.indexing.common import (
    IndexConfig,
    explained_failures,
    run_kind,
    site_of,
    site_partitions,
    timed,
)
from pressrag.resources.dagster_resources import StoreResource, WordPressResource
from pressrag.resources.models import SourceDocument
from pressrag.resources.store import Store
from pressrag.resources.store import documents as docs_sql
from pressrag.resources.store import status as status_sql
from pressrag.resources.store.documents import UpsertStats
from pressrag.resources.store.sites import Site
from pressrag.resources.wordpress import ContentSource

BATCH = 200
INDEXABLE_MEDIA = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/html",
    "text/plain",
    "text/markdown",
)


def _batched(items: Iterable[SourceDocument], size: int) -> Iterator[list[SourceDocument]]:
    batch: list[SourceDocument] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _record(store: Store, site: Site, items: Iterable[SourceDocument], stats: UpsertStats) -> None:
    """Upsert `items` a batch at a time; the next batch is read (WordPress's pages fetched and
    parsed) on a thread while this one is stored."""
    batches = _batched(items, BATCH)
    with ThreadPoolExecutor(1, thread_name_prefix="listing") as reader:
        ahead = reader.submit(next, batches, None)
        while (batch := ahead.result()) is not None:
            ahead = reader.submit(next, batches, None)
            with store.connection() as conn:
                got = docs_sql.upsert_documents(
                    conn, site.id, batch, indexable_media=INDEXABLE_MEDIA
                )
            for key, value in got.as_metadata().items():
                setattr(stats, key, getattr(stats, key) + value)
            stats.seen_wp_ids |= got.seen_wp_ids


def _targeted(
    store: Store, site_id: str, source: ContentSource, config: IndexConfig, *, attachments: bool
) -> tuple[list[SourceDocument], list[int]]:
    """Fetch the named ids; return (documents of this kind, ids that are gone).

    `wp_media` runs after `wp_documents`, which already fetched every named id and deleted
    the gone ones: it fetches only ids that are not known posts, so a post edit costs one
    REST round trip, not two.
    """
    ids = list(config.wp_ids)
    if attachments and ids:
        with store.connection() as conn:
            known_posts = {
                r[0]
                for r in conn.execute(
                    "SELECT wp_id FROM documents WHERE site_id = %s AND wp_id = ANY(%s) "
                    "AND doc_type <> 'attachment'",
                    (site_id, ids),
                )
            }
        ids = [i for i in ids if i not in known_posts]
    fetched = source.fetch(None, ids) if ids else {}
    found = [d for d in fetched.values() if d is not None and d.is_attachment == attachments]
    gone = [i for i, d in fetched.items() if d is None] + list(config.deleted_wp_ids)
    return found, gone


def _indexed_before(store: Store, site_id: str, run_id: str) -> bool:
    with store.connection() as conn:
        return status_sql.indexed_before(conn, site_id, run_id)


def _drift(stats: UpsertStats, kind: str, indexed_before: bool) -> int | None:
    """On a full pass over a site indexed before, every change found is one no event
    delivered: that is drift. A targeted run or a site's first index has none to report."""
    if kind != "full" or not indexed_before:
        return None
    return stats.added + stats.updated + stats.removed


def _list_into_store(
    db: Store,
    site: Site,
    source: ContentSource,
    config: IndexConfig,
    stats: UpsertStats,
    *,
    attachments: bool,
) -> int:
    """Record what the source lists — the run's ids when it is targeted, everything when not
    — and remove what it no longer has; the number removed."""
    if run_kind(config) == "targeted":
        found, gone = _targeted(db, site.id, source, config, attachments=attachments)
        _record(db, site, found, stats)
        with db.connection() as conn:
            return docs_sql.delete_documents(conn, site.id, gone)
    _record(db, site, source.iter_media() if attachments else source.iter_documents(), stats)
    with db.connection() as conn:
        return docs_sql.delete_missing(conn, site.id, stats.seen_wp_ids, attachments=attachments)


def _metadata(stats: UpsertStats, kind: str, seconds: float, drift: int | None) -> dict:
    meta: dict = {**stats.as_metadata(), "run_kind": kind, "duration_seconds": seconds}
    if drift is not None:
        meta["drift"] = drift
    return meta


@dg.asset(
    partitions_def=site_partitions,
    group_name="indexing",
    kinds={"wordpress", "postgres"},
    description="Posts, pages and configured custom types of the site, with visibility.",
)
def wp_documents(
    context: dg.AssetExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    wordpress: WordPressResource,
) -> dg.MaterializeResult:
    db = store.get()
    site = site_of(context, db)
    kind = run_kind(config)
    with db.connection() as conn:
        status_sql.start_run(
            conn, context.run.run_id, site.id, config.reason if kind == "full" else kind
        )
    source = wordpress.source_for(site)
    stats = UpsertStats()
    indexed_before = _indexed_before(db, site.id, context.run.run_id)
    if kind != "targeted":
        context.log.info(f"listing documents of {site.id} ({site.base_url})")
    with timed() as clock, explained_failures():
        stats.removed += _list_into_store(db, site, source, config, stats, attachments=False)
    drift = _drift(stats, kind, indexed_before)
    context.log.info(f"documents of {site.id}: {stats.as_metadata()}")
    return dg.MaterializeResult(metadata=_metadata(stats, kind, clock["seconds"], drift))


@dg.asset(
    partitions_def=site_partitions,
    group_name="indexing",
    kinds={"wordpress", "postgres"},
    deps=[wp_documents],
    description="Attachments (PDF, DOCX, PPTX, HTML, text) that follow their parent's visibility.",
)
def wp_media(
    context: dg.AssetExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    wordpress: WordPressResource,
) -> dg.MaterializeResult:
    db = store.get()
    site = site_of(context, db)
    kind = run_kind(config)
    source = wordpress.source_for(site)
    stats = UpsertStats()
    indexed_before = _indexed_before(db, site.id, context.run.run_id)
    with timed() as clock, explained_failures():
        stats.removed += _list_into_store(db, site, source, config, stats, attachments=True)
        with db.connection() as conn:
            flipped = docs_sql.apply_parent_visibility(conn, site.id)
    stats.removed += flipped["hidden"]
    drift = _drift(stats, kind, indexed_before)
    context.log.info(f"media of {site.id}: {stats.as_metadata()}")
    meta = _metadata(stats, kind, clock["seconds"], drift)
    meta["unhidden"] = flipped["shown"]
    return dg.MaterializeResult(metadata=meta)
