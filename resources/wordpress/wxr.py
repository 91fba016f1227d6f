"""Read a WordPress WXR export (Tools → Export) as a stream of `SourceDocument`s.

Every export WordPress's own importer reads is read here: WXR 1.0, 1.1 and 1.2, any prefix
bound to WordPress's namespaces, missing optional tags, and files that are not well-formed
XML. The strict streaming parser (`wxr_xml`) reads the file first; where the XML breaks, the
tolerant reader (`wxr_tolerant`) takes over from the item that broke, as WordPress's importer
falls back to its regex parser. Items neither can read are reported as `WxrItemFailure`s with
their line, and cost only themselves. A file that is not a WXR export is refused with one
line. Memory is bounded by the largest item, whatever the size of the file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pressrag.resources.errors import SourceError
from pressrag.resources.models import ATTACHMENT_TYPE, SourceDocument
from pressrag.resources.wordpress._common import origin_of
from pressrag.resources.wordpress.wxr_items import (
    INTERNAL_POST_TYPES,
    Author,
    ChannelFact,
    Entry,
    RawItem,
    WxrItemFailure,
    document_from_item,
    item_id,
    item_link,
    item_type,
)
from pressrag.resources.wordpress.wxr_media import MediaFiles, media_beside
from pressrag.resources.wordpress.wxr_tolerant import tolerant_entries
from pressrag.resources.wordpress.wxr_xml import NotWellFormed, strict_entries

log = logging.getLogger(__name__)

UPLOADS_MARKER = "/wp-content/uploads/"
PROGRESS_SECONDS = 5.0
# Items looked at for a site URL when the channel names none.
ITEMS_FOR_SITE_URL = 200
# Failures kept in a report (their count is always exact).
MAX_REPORTED_FAILURES = 1000
_VERSION = re.compile(r"\d+\.\d+")

WxrInput = str | Path | IO[bytes]

__all__ = [
    "INTERNAL_POST_TYPES",
    "UPLOADS_MARKER",
    "ReadProgress",
    "WxrItemFailure",
    "WxrReadReport",
    "WxrReader",
    "WxrSource",
    "iter_wxr",
    "read_wxr_site",
    "site_url_of",
]


@dataclass(frozen=True)
class ReadProgress:
    bytes_read: int
    total_bytes: int | None
    items: int
    failures: int


@dataclass
class WxrReadReport:
    """What one complete pass over an export found."""

    items: int = 0  # <item>s, WordPress's internal types included
    documents: int = 0  # content items handed out (any type and status)
    failure_count: int = 0
    failures: list[WxrItemFailure] = field(default_factory=list)  # the first 1000
    not_well_formed: str | None = None  # where the strict parser stopped, if it did
    bytes_read: int = 0
    sha256: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "documents": self.documents,
            "failure_count": self.failure_count,
            "failures": [f.as_dict() for f in self.failures],
            "not_well_formed": self.not_well_formed,
            "bytes": self.bytes_read,
            "sha256": self.sha256,
            "seconds": self.seconds,
        }


class WxrReader:
    """One pass over an export: documents out; facts, failures and a report kept.

    Iterate it once. `report` is complete when the iteration has run to the end.
    """

    def __init__(
        self,
        source: WxrInput,
        *,
        on_progress: Callable[[ReadProgress], None] | None = None,
        renders: Callable[[RawItem], bool] | None = None,
    ) -> None:
        self.source = source
        self.name = str(source) if isinstance(source, str | Path) else _name_of(source)
        self.on_progress = on_progress
        # Whose content is rendered (all by default); the others' documents have none.
        self.renders = renders or (lambda raw: True)
        self.facts: dict[str, str] = {}
        self.authors: dict[str, str] = {}
        self.report = WxrReadReport()
        self.finished = False

    def __iter__(self) -> Iterator[SourceDocument]:
        started = time.monotonic()
        for entry in self.entries():
            if isinstance(entry, RawItem):
                result = document_from_item(entry, self.authors, render=self.renders(entry))
                if isinstance(result, WxrItemFailure):
                    self._failed(result)
                elif result is not None:
                    self.report.documents += 1
                    yield result
            elif isinstance(entry, WxrItemFailure):
                self._failed(entry)
        self.report.seconds = round(time.monotonic() - started, 3)
        self.finished = True

    def entries(self) -> Iterator[Entry]:
        """Channel facts, authors, items and unreadable items, in file order (facts and
        authors are also kept on the reader)."""
        with ExitStack() as stack:
            handle = _Counting(self._open(stack))
            progress = _Throttled(self.on_progress, handle, self.report)
            strict_items = 0
            try:
                for entry in strict_entries(handle, self.name):
                    strict_items += isinstance(entry, RawItem)
                    yield from self._checked(entry, progress)
            except NotWellFormed as broken:
                if not broken.in_channel:
                    raise SourceError(
                        f"{self.name} is not a WordPress export: it is malformed XML "
                        f"before its <channel> (line {broken.line}: {broken.message})"
                    ) from broken
                self.report.not_well_formed = str(broken)
                log.debug(
                    "%s is malformed XML (%s); reading it item by item from there",
                    self.name,
                    broken,
                )
                handle.rewind()
                for entry in tolerant_entries(handle, skip_items=strict_items):
                    yield from self._checked(entry, progress)
            if not self._has_version():
                self._refuse_without_version()
            self.report.bytes_read = handle.count
            self.report.sha256 = handle.sha256.hexdigest()
            progress.done()

    def _checked(self, entry: Entry, progress: _Throttled) -> Iterator[Entry]:
        if isinstance(entry, ChannelFact):
            self.facts.setdefault(entry.tag, entry.value)
        elif isinstance(entry, Author):
            if entry.login:
                self.authors[entry.login] = entry.display_name or entry.login
        else:
            if not self._has_version():
                self._refuse_without_version()
            self.report.items += 1
            progress.tick()
        yield entry

    def _has_version(self) -> bool:
        return bool(_VERSION.fullmatch(self.facts.get("wp:wxr_version", "").strip()))

    def _refuse_without_version(self) -> None:
        # WordPress's importer refuses such a file too: an RSS feed is not an export.
        version = self.facts.get("wp:wxr_version")
        problem = (
            f"its <wp:wxr_version> is {version[:40]!r}, not a version number"
            if version is not None
            else "its <channel> has no <wp:wxr_version> before its first item"
        )
        broken = self.report.not_well_formed
        raise SourceError(
            f"{self.name} is not a WordPress export: {problem}"
            + (f" (and it is malformed XML at {broken})" if broken else "")
        )

    def _failed(self, failure: WxrItemFailure) -> None:
        self.report.failure_count += 1
        if len(self.report.failures) < MAX_REPORTED_FAILURES:
            self.report.failures.append(failure)
        log.debug("%s: unreadable item at %s", self.name, failure)

    def _open(self, stack: ExitStack) -> IO[bytes]:
        if isinstance(self.source, str | Path):
            try:
                return stack.enter_context(Path(self.source).open("rb"))
            except OSError as exc:
                raise SourceError(f"cannot open {self.source} ({exc.strerror})") from exc
        return self.source


def iter_wxr(source: WxrInput) -> Iterator[SourceDocument]:
    """Every content item (posts, pages, attachments, custom types) of a WXR export."""
    return iter(WxrReader(source))


def read_wxr_site(source: WxrInput) -> dict[str, Any]:
    """Channel facts of an export: title, link, language, base URLs, WXR version, authors,
    and the origin of its first item links (for exports whose channel names no URL).

    Stops at the first item when the channel names a URL; WordPress writes the channel
    header before any item.
    """
    reader = WxrReader(source)
    item_origin: str | None = None
    items = 0
    with ExitStack() as stack:
        entries = stack.enter_context(closing(reader.entries()))
        for entry in entries:
            if not isinstance(entry, RawItem):
                continue
            if _channel_url(reader.facts) or items >= ITEMS_FOR_SITE_URL:
                break
            items += 1
            link = item_link(entry)
            if link:
                parts = urlsplit(link)
                item_origin = f"{parts.scheme}://{parts.netloc}"
                break
    facts = reader.facts
    return {
        "title": facts.get("title", ""),
        "link": facts.get("link", ""),
        "description": facts.get("description", ""),
        "language": facts.get("language") or None,
        "base_site_url": facts.get("wp:base_site_url") or None,
        "base_blog_url": facts.get("wp:base_blog_url") or None,
        "wxr_version": facts.get("wp:wxr_version") or None,
        "authors": dict(reader.authors),
        "item_origin": item_origin,
    }


def site_url_of(site: dict[str, Any]) -> str | None:
    """The site's public URL as an export states it: the blog URL (WordPress's "home"),
    the channel link, the WordPress address, else the origin of its items' links."""
    for key in ("base_blog_url", "link", "base_site_url", "item_origin"):
        value = str(site.get(key) or "").strip().rstrip("/")
        if urlsplit(value).scheme in ("http", "https") and urlsplit(value).netloc:
            return value
    return None


class WxrSource:
    """A WXR export behind the same interface as `WordPressRestClient`.

    `media` is the export's uploaded files (a folder or a zip; default `uploads/` or
    `uploads.zip` beside the export). `on_read` hears the report of every pass read to
    the end; `on_progress` hears how far a pass is, every few seconds.
    """

    parallel_downloads = 1  # the files are on this machine: nothing to wait for

    def __init__(
        self,
        path: str | Path,
        *,
        post_types: Iterable[str] = ("post", "page"),
        media: str | Path | None = None,
        site_url: str | None = None,
        on_read: Callable[[WxrReadReport], None] | None = None,
        on_progress: Callable[[ReadProgress], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.post_types = tuple(post_types)
        self.media_path = media
        self.site_url = site_url.rstrip("/") if site_url else None
        self.on_read = on_read
        self.on_progress = on_progress
        self.last_report: WxrReadReport | None = None
        self._site: dict[str, Any] | None = None
        self._media: MediaFiles | None = None

    @property
    def site(self) -> dict[str, Any]:
        if self._site is None:
            self._site = read_wxr_site(self.path)
        return self._site

    @property
    def base_url(self) -> str:
        return self.site_url or site_url_of(self.site) or ""

    # Each pass renders the content of the items it hands out only: the posts' pass skips
    # the attachments' and the media pass the posts' (100 pages of the Python reference: 1.2 s
    # a pass, nearly all `wpautop`), and listing versions renders nothing.
    def iter_documents(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        for doc in self._read(lambda raw: item_type(raw) in self.post_types):
            wanted = not doc.is_attachment and doc.type in self.post_types
            if wanted and _modified_since(doc, modified_after):
                yield doc

    def iter_media(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        for doc in self._read(lambda raw: item_type(raw) == ATTACHMENT_TYPE):
            if doc.is_attachment and _modified_since(doc, modified_after):
                yield doc

    def fetch(
        self, post_type: str | None, wp_ids: Iterable[int]
    ) -> dict[int, SourceDocument | None]:
        found: dict[int, SourceDocument | None] = dict.fromkeys(int(i) for i in wp_ids)
        for doc in self._iter_wanted(lambda raw: item_id(raw) in found):
            if doc.wp_id in found and (post_type is None or doc.type == post_type):
                found[doc.wp_id] = doc
        return found

    def list_versions(self) -> Iterator[tuple[int, str, datetime | None]]:
        for doc in self._iter_wanted(lambda raw: False):
            yield doc.wp_id, doc.type, doc.modified_gmt

    def open_media(self, url: str, max_bytes: int) -> bytes:
        """An uploaded file, by the path after /wp-content/uploads/ in its URL."""
        relative = self._uploads_path(url)
        if self._media is None:
            self._media = media_beside(self.path, self.media_path)
        if self._media is None:
            raise SourceError(
                f"{url}: no media beside {self.path} (an uploads/ folder or uploads.zip)"
            )
        return self._media.read(relative, max_bytes)

    def _read(self, renders: Callable[[RawItem], bool]) -> Iterator[SourceDocument]:
        reader = WxrReader(self.path, on_progress=self.on_progress, renders=renders)
        yield from reader
        self.last_report = reader.report
        if self.on_read is not None:
            self.on_read(reader.report)

    def _iter_wanted(self, renders: Callable[[RawItem], bool]) -> Iterator[SourceDocument]:
        for doc in self._read(renders):
            if doc.is_attachment or doc.type in self.post_types:
                yield doc

    def _uploads_path(self, url: str) -> PurePosixPath:
        allowed = {
            origin_of(u)
            for u in (
                self.site_url,
                self.site["link"],
                self.site["base_site_url"],
                self.site["base_blog_url"],
                self.site["item_origin"],
            )
            if u
        }
        if origin_of(url) not in allowed:
            raise SourceError(f"refusing {url}: it is not on the export's site ({self.base_url})")
        url_path = unquote(urlsplit(url).path)
        marker = url_path.find(UPLOADS_MARKER)
        if marker < 0:
            raise SourceError(f"refusing {url}: not under {UPLOADS_MARKER}")
        relative = PurePosixPath(url_path[marker + len(UPLOADS_MARKER) :])
        parts = relative.parts
        if not parts or any(p in ("..", ".", "") or "\\" in p or "\0" in p for p in parts):
            raise SourceError(f"refusing {url}: path escapes the uploads folder")
        return relative


# ---- helpers ------------------------------------------------------------------------------


class _Counting:
    """A read-only handle that counts and hashes what is read, and can start over."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.start = handle.tell() if handle.seekable() else 0
        self.count = 0
        self.sha256 = hashlib.sha256()
        try:
            self.total: int | None = Path(handle.name).stat().st_size  # type: ignore[attr-defined]
        except (AttributeError, OSError, TypeError):
            self.total = None

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.count += len(data)
        self.sha256.update(data)
        return data

    def rewind(self) -> None:
        if not self.handle.seekable():
            raise SourceError("the export is malformed XML and cannot be read again")
        self.handle.seek(self.start)
        self.count = 0
        self.sha256 = hashlib.sha256()


class _Throttled:
    """Reports progress at most every few seconds, and once at the end."""

    def __init__(
        self,
        callback: Callable[[ReadProgress], None] | None,
        handle: _Counting,
        report: WxrReadReport,
    ) -> None:
        self.callback, self.handle, self.report = callback, handle, report
        self.last = time.monotonic()

    def tick(self) -> None:
        if self.callback is not None and time.monotonic() - self.last >= PROGRESS_SECONDS:
            self.last = time.monotonic()
            self._send()

    def done(self) -> None:
        if self.callback is not None:
            self._send()

    def _send(self) -> None:
        assert self.callback is not None
        self.callback(
            ReadProgress(
                bytes_read=self.handle.count,
                total_bytes=self.handle.total,
                items=self.report.items,
                failures=self.report.failure_count,
            )
        )


def _channel_url(facts: dict[str, str]) -> bool:
    return any(facts.get(k) for k in ("wp:base_blog_url", "link", "wp:base_site_url"))


def _name_of(handle: IO[bytes]) -> str:
    name = getattr(handle, "name", None)
    return str(name) if isinstance(name, str) else "the WXR export"


def _modified_since(doc: SourceDocument, modified_after: datetime | None) -> bool:
    if modified_after is None or doc.modified_gmt is None:
        return True
    aware = modified_after if modified_after.tzinfo else modified_after.replace(tzinfo=UTC)
    return doc.modified_gmt > aware
