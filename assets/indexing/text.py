"""`extracted_text`: readable text (markdown-ish, headings kept) for every changed document.

Posts: cleaned HTML (blocks, shortcodes, scripts removed) through html2text. Media: the file,
fetched from the site's own origin with a size cap, through unstructured (or pypdf). A
document that fails is recorded with its error and taken out of the index; the rest go on.
"""

from pathlib import PurePosixPath
from urllib.parse import urlsplit

import dagster as dg

from assets.indexing.common import IndexConfig, Progress, site_of, site_partitions, timed
from assets.indexing.documents import wp_documents, wp_media
from assets.transforms.cleaning import clean_post_html
from resources.dagster_resources import StoreResource, WordPressResource
from resources.errors import PressRAGError
from resources.extractors.html import html_to_markdown
from resources.extractors.media import extract_media
from resources.settings import get_settings
from resources.store import documents as docs_sql
from resources.wordpress import ContentSource

COMMIT_EVERY = 25


def post_text(content_html: str) -> str:
    return html_to_markdown(clean_post_html(content_html))


def media_text(source: ContentSource, row: dict, max_bytes: int) -> str:
    """The file's text, with the attachment's caption/description (if any) after it."""
    url = row["media_url"] or ""
    filename = PurePosixPath(urlsplit(url).path).name or f"attachment-{row['wp_id']}"
    data = source.open_media(url, max_bytes)
    body = extract_media(data, row["mime_type"], filename)
    description = post_text(row["content_html"]) if row["content_html"] else ""
    return f"{body}\n\n{description}".strip()


@dg.asset(
    partitions_def=site_partitions,
    group_name="indexing",
    kinds={"python", "postgres"},
    deps=[wp_documents, wp_media],
    description="Text of every public document whose content changed since it was extracted.",
)
def extracted_text(
    context: dg.AssetExecutionContext,
    config: IndexConfig,
    store: StoreResource,
    wordpress: WordPressResource,
) -> dg.MaterializeResult:
    db = store.get()
    site = site_of(context, db)
    max_bytes = get_settings().media_max_bytes
    with db.connection() as conn:
        pending = docs_sql.pending_extraction(conn, site.id)
    source = (
        wordpress.source_for(site) if any(r["doc_type"] == "attachment" for r in pending) else None
    )
    progress = Progress(context, "extracting text", len(pending))
    extracted = failed = 0
    failures: list[str] = []
    with timed() as clock, db.connection() as conn:
        for n, row in enumerate(pending, start=1):
            try:
                if row["doc_type"] == "attachment":
                    assert source is not None
                    text = media_text(source, row, max_bytes)
                else:
                    text = post_text(row["content_html"])
            except PressRAGError as exc:
                failed += 1
                failures.append(f"{row['wp_id']}: {exc}")
                docs_sql.record_failure(conn, row["id"], "extract", str(exc))
                context.log.warning(f"document {row['wp_id']} ({row['title']!r}): {exc}")
            else:
                if docs_sql.save_extracted_text(conn, row["id"], row["content_hash"], text):
                    extracted += 1
            if n % COMMIT_EVERY == 0:
                conn.commit()  # keep progress if the run dies
            progress.advance()
    return dg.MaterializeResult(
        metadata={
            "extracted": extracted,
            "failed": failed,
            "pending": len(pending),
            "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures[:50]) or "none"),
            "seconds": clock["seconds"],
        }
    )
