"""WordPress as a content source: the live REST API or a WXR export file.

Both sources yield `resources.models.SourceDocument`s and share the `ContentSource`
interface, so the assets do not care which one a site is read from.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from pressrag.resources.models import SourceDocument
from pressrag.resources.wordpress.rest import WordPressRestClient
from pressrag.resources.wordpress.wxr import (
    WxrItemFailure,
    WxrReader,
    WxrReadReport,
    WxrSource,
    iter_wxr,
    read_wxr_site,
    site_url_of,
)


@runtime_checkable
class ContentSource(Protocol):
    """What the assets need from a WordPress site, whichever way it is read."""

    @property
    def base_url(self) -> str:
        """The site's URL (no trailing slash); media is only read from its origin."""
        ...

    def iter_documents(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        """Posts, pages and configured custom types modified after the time (all when None)."""
        ...

    def iter_media(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        """Attachments modified after the time (all when None)."""
        ...

    def fetch(
        self, post_type: str | None, wp_ids: Iterable[int]
    ) -> dict[int, SourceDocument | None]:
        """The given ids; None for an id that is gone or not visible to this source."""
        ...

    def list_versions(self) -> Iterator[tuple[int, str, datetime | None]]:
        """(wp_id, type, modified_gmt) of every visible object, for a reconcile diff."""
        ...

    def open_media(self, url: str, max_bytes: int) -> bytes:
        """A media file's bytes, from the site's own origin only, at most `max_bytes`."""
        ...

    @property
    def parallel_downloads(self) -> int:
        """How many `open_media` calls may run at once (from threads): a site's server
        answers a file a request, so files come faster a few at a time; an export's files
        are on this machine's disk."""
        ...


__all__ = [
    "ContentSource",
    "WordPressRestClient",
    "WxrItemFailure",
    "WxrReadReport",
    "WxrReader",
    "WxrSource",
    "iter_wxr",
    "read_wxr_site",
    "site_url_of",
]
