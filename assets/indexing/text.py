"""`extracted_text`: readable text (markdown-ish, headings kept) for every changed document.

Posts: cleaned HTML (blocks, shortcodes, scripts removed) through html2text, on all cores when
a shard has many (`resources/cpu_pool.py`). Media: the file, fetched from the site's own
origin with a size cap (from a live site a few at a time, while the one before is parsed),
through its format's parser (python-docx, python-pptx, pypdf, html2text) in a child process
bounded in time, memory and ZIP inflation (`resources/extractors/bounded.py`).
Whatever fails for one document — download, a limit, a parser, storing the text — is
recorded on it and takes it out of the index; the rest go on (`assets/indexing/failures.py`).
"""

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import dagster as dg

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
from pressrag.assets.transforms.cleaning import post_text
from pressrag.resources.cpu_pool import Failed, map_each, processes_for
from pressrag.resources.dagster_resources import StoreResource, WordPressResource
from pressrag.resources.extractors.bounded import BoundedExtractor, ExtractionLimits
from pressrag.resources.extractors.media import kinds_of
from pressrag.resources.settings import Settings, get_settings
from pressrag.resources.store import documents as docs_sql
from pressrag.resources.wordpress import ContentSource

# Texts saved (one statement) and committed together: one statement a document was ~1 ms
# of a ~3 ms document.
SAVE_EVERY = 25


def media_text(row: dict, data: bytes, extractor: BoundedExtractor) -> str:
    """The file's text, with the attachment's caption/description (if any) after it."""
    url = row["media_url"] or ""
    filename = PurePosixPath(urlsplit(url).path).name or f"attachment-{row['wp_id']}"
    body = extractor.extract(data, row["mime_type"], filename)
    description = post_text(row["content_html"]) if row["content_html"] else ""
    return f"{body}\n\n{description}".strip()


def downloads(
    source: ContentSource, rows: list[dict], max_bytes: int
) -> Iterator[bytes | Exception]:
    """Each row's file, in order, or what its download raised; the source's
    `parallel_downloads` of them on their way while the caller parses the one before."""
    with ThreadPoolExecutor(source.parallel_downloads, thread_name_prefix="media") as pool:
        ahead: deque[Future[bytes]] = deque()
        for row in rows:
            ahead.append(pool.submit(source.open_media, row["media_url"] or "", max_bytes))
            if len(ahead) > source.parallel_downloads:
                yield _outcome(ahead.popleft())
        while ahead:
            yield _outcome(ahead.popleft())


def _outcome(download: Future[bytes]) -> bytes | Exception:
    exc = download.exception()
    return exc if isinstance(exc, Exception) else download.result()


def extracted(
    rows: list[dict],
    post_texts: Iterator[str | Failed],
    source: ContentSource | None,
    extractor: BoundedExtractor,
    settings: Settings,
) -> Iterator[tuple[dict, str | Failed]]:
    """Each row with its text (or what failed), posts first (`post_texts`, theirs in order),
    then media, whose worker loads its parsers meanwhile."""
    posts = [r for r in rows if r["doc_type"] != "attachment"]
    yield from zip(posts, post_texts, strict=True)
    media = [r for r in rows if r["doc_type"] == "attachment"]
    if not media:
        return
    assert source is not None
    for row, data in zip(media, downloads(source, media, settings.media_max_bytes), strict=True):
        if isinstance(data, Exception):
            yield row, Failed(data)
            continue
        try:
            outcome: str | Failed = media_text(row, data, extractor)
        except Exception as exc:
            outcome = Failed(exc)
        yield row, outcome


def _extract(
    context: dg.OpExecutionContext, store: StoreResource, wordpress: WordPressResource, shard: Shard
) -> ShardResult:
    db = store.get()
    site = site_of(context, db)
    settings = get_settings()
    with db.connection() as conn:
        pending = docs_sql.pending_extraction(conn, site.id, id_range=shard.id_range)
    media = [r for r in pending if r["doc_type"] == "attachment"]
    source = wordpress.source_for(site) if media else None
    progress = Progress(context, "extracting text", len(pending))
    failures = StageFailures(context, "extract", settings.quarantine_after_failures)
    extracted_count = 0
    with (
        timed() as clock,
        BoundedExtractor(
            ExtractionLimits.from_settings(settings), kinds_of(r["mime_type"] for r in media)
        ) as extractor,
        db.connection() as conn,
    ):
        if media:
            extractor.start()

        def save(rows: list[dict]) -> set[int]:
            """What `write_all_or_each` calls with some of the extracted rows: the ids saved."""
            return docs_sql.save_extracted_texts(
                conn, [(r["id"], r["content_hash"], r["text"]) for r in rows]
            )

        # Many posts are converted on worker processes (resources/cpu_pool.py).
        htmls = [r["content_html"] for r in pending if r["doc_type"] != "attachment"]
        post_texts = map_each(
            post_text,
            htmls,
            processes=processes_for(settings),
            characters=sum(len(h or "") for h in htmls),
        )
        texts: list[dict] = []
        rows = extracted(pending, post_texts, source, extractor, settings)
        for n, (row, text) in enumerate(rows, 1):
            if isinstance(text, Failed):
                failures.record(conn, row, text.error)
            else:
                texts.append({**row, "text": text})
            if n % SAVE_EVERY == 0 or n == len(pending):
                extracted_count += len(write_all_or_each(conn, texts, save, failures))
                conn.commit()  # keep progress if the run dies
                texts.clear()
            progress.advance()
    counts = {
        "extracted": extracted_count,
        "changed_documents": len(pending),
        "documents_on_workers": post_texts.on_workers,
    }
    return ShardResult.of({**counts, "duration_seconds": clock["seconds"]}, failures)


plan_extraction = plan_op("plan_extraction", "extract")


@dg.op(out=result_out())
def extract_shard(
    context: dg.OpExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    wordpress: WordPressResource,
    shard: Shard,
) -> dg.Output[ShardResult]:
    return dg.Output(_extract(context, store, wordpress, shard), metadata=where_it_ran())


sum_extraction = sum_op("sum_extraction")


@dg.graph_asset(
    partitions_def=site_partitions,
    group_name="indexing",
    kinds={"python", "postgres"},
    ins={
        "wp_documents": dg.AssetIn(dagster_type=dg.Nothing),
        "wp_media": dg.AssetIn(dagster_type=dg.Nothing),
    },
    config=stage_config("plan_extraction", "extract_shard", "sum_extraction"),
    description="Text of every public document whose content changed since it was extracted.",
)
def extracted_text(wp_documents, wp_media):
    shards = plan_extraction(after=[wp_documents, wp_media])
    return sum_extraction(shards.map(extract_shard).collect())
