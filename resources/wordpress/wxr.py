"""Read a WordPress WXR export (Tools → Export) as a stream of `SourceDocument`s.

Exports can be hundreds of megabytes, so the file is parsed incrementally and every item is
dropped from the tree as soon as it is mapped. Parsing goes through defusedxml: an export
that declares entities (the "billion laughs" bomb) or external references is refused.
"""

from __future__ import annotations

import html
import mimetypes
import re
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as safe_et

from resources.errors import SourceError
from resources.models import ATTACHMENT_TYPE, SourceDocument
from resources.wordpress._common import IGNORED_TAXONOMIES, origin_of, parse_wp_gmt

# Post types WordPress uses for its own machinery; they are never content.
INTERNAL_POST_TYPES = frozenset(
    {
        "nav_menu_item",
        "revision",
        "wp_template",
        "wp_template_part",
        "wp_global_styles",
        "wp_navigation",
        "wp_block",
        "customize_changeset",
        "oembed_cache",
        "user_request",
        "custom_css",
        "wp_font_family",
        "wp_font_face",
    }
)
UPLOADS_MARKER = "/wp-content/uploads/"

_WP_NS = re.compile(r"^https?://wordpress\.org/export/1\.\d+/$")
_EXCERPT_NS = re.compile(r"^https?://wordpress\.org/export/1\.\d+/excerpt/$")
_FIXED_PREFIXES = {
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
}

WxrInput = str | Path | IO[bytes]


def iter_wxr(source: WxrInput) -> Iterator[SourceDocument]:
    """Every content item (posts, pages, attachments, custom types) of a WXR export."""
    authors: dict[str, str] = {}
    for tag, element in _iter_channel_children(source):
        if tag == "wp:author":
            login, display = (
                _child_text(element, "wp:author_login"),
                _child_text(element, "wp:author_display_name"),
            )
            if login:
                authors[login] = display or login
        elif tag == "item":
            doc = _document_from_item(element, authors)
            if doc is not None:
                yield doc


def read_wxr_site(source: WxrInput) -> dict[str, Any]:
    """Channel facts of an export: title, link, language, base URLs, WXR version, authors.

    Stops at the first item: WordPress writes the channel header before any item.
    """
    site: dict[str, Any] = {
        "title": "",
        "link": "",
        "description": "",
        "language": None,
        "base_site_url": None,
        "base_blog_url": None,
        "wxr_version": None,
        "authors": {},
    }
    simple = {
        "title": "title",
        "link": "link",
        "description": "description",
        "language": "language",
        "wp:base_site_url": "base_site_url",
        "wp:base_blog_url": "base_blog_url",
        "wp:wxr_version": "wxr_version",
    }
    for tag, element in _iter_channel_children(source):
        if tag == "item":
            break
        if tag in simple:
            site[simple[tag]] = (element.text or "").strip() or site[simple[tag]]
        elif tag == "wp:author":
            login = _child_text(element, "wp:author_login")
            if login:
                site["authors"][login] = _child_text(element, "wp:author_display_name") or login
    return site


class WxrSource:
    """A WXR export behind the same interface as `WordPressRestClient`."""

    def __init__(
        self,
        path: str | Path,
        *,
        post_types: Iterable[str] = ("post", "page"),
        uploads_dir: str | Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.post_types = tuple(post_types)
        self.uploads_dir = Path(uploads_dir) if uploads_dir else self.path.parent / "uploads"
        self._site: dict[str, Any] | None = None

    @property
    def site(self) -> dict[str, Any]:
        if self._site is None:
            self._site = read_wxr_site(self.path)
        return self._site

    @property
    def base_url(self) -> str:
        site = self.site
        return str(site["base_blog_url"] or site["link"] or site["base_site_url"] or "").rstrip("/")

    def iter_documents(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        for doc in iter_wxr(self.path):
            wanted = not doc.is_attachment and doc.type in self.post_types
            if wanted and _modified_since(doc, modified_after):
                yield doc

    def iter_media(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        for doc in iter_wxr(self.path):
            if doc.is_attachment and _modified_since(doc, modified_after):
                yield doc

    def fetch(
        self, post_type: str | None, wp_ids: Iterable[int]
    ) -> dict[int, SourceDocument | None]:
        found: dict[int, SourceDocument | None] = dict.fromkeys(int(i) for i in wp_ids)
        for doc in self._iter_wanted():
            if doc.wp_id in found and (post_type is None or doc.type == post_type):
                found[doc.wp_id] = doc
        return found

    def list_versions(self) -> Iterator[tuple[int, str, datetime | None]]:
        for doc in self._iter_wanted():
            yield doc.wp_id, doc.type, doc.modified_gmt

    def open_media(self, url: str, max_bytes: int) -> bytes:
        """Read an uploaded file from `uploads_dir`, by the path after /wp-content/uploads/."""
        path = self._uploads_path(url)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise SourceError(f"{url}: not found in {self.uploads_dir} ({exc.strerror})") from exc
        if size > max_bytes:
            raise SourceError(f"{url}: file exceeds {max_bytes} bytes")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:  # the file grew since stat()
            raise SourceError(f"{url}: file exceeds {max_bytes} bytes")
        return data

    def _iter_wanted(self) -> Iterator[SourceDocument]:
        for doc in iter_wxr(self.path):
            if doc.is_attachment or doc.type in self.post_types:
                yield doc

    def _uploads_path(self, url: str) -> Path:
        allowed = {
            origin_of(u)
            for u in (self.site["link"], self.site["base_site_url"], self.site["base_blog_url"])
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
        root = self.uploads_dir.resolve()
        target = root.joinpath(*parts).resolve()
        if not target.is_relative_to(root):  # a symlink pointing outside
            raise SourceError(f"refusing {url}: path escapes the uploads folder")
        return target


# ---- streaming parse ----------------------------------------------------------------------


def _iter_channel_children(source: WxrInput) -> Iterator[tuple[str, Element]]:
    """Yield each direct child of <channel> once it is complete, then drop it from memory."""
    name = str(source) if isinstance(source, str | Path) else getattr(source, "name", "WXR")
    with ExitStack() as stack:
        handle = (
            stack.enter_context(Path(source).open("rb"))
            if isinstance(source, str | Path)
            else source
        )
        depth = 0
        channel: Element | None = None
        try:
            for event, element in safe_et.iterparse(handle, events=("start", "end")):
                if event == "start":
                    depth += 1
                    if depth == 1 and _short_tag(element.tag) != "rss":
                        raise SourceError(
                            f"{name} is not a WordPress export: its root element is "
                            f"<{_short_tag(element.tag)}>, expected <rss>"
                        )
                    if depth == 2 and _short_tag(element.tag) == "channel":
                        channel = element
                    continue
                depth -= 1
                if depth == 2 and channel is not None and _is_child(channel, element):
                    yield _short_tag(element.tag), element
                    channel.remove(element)
                    element.clear()
                elif depth == 1:
                    element.clear()  # anything beside <channel> is of no interest
        except ParseError as exc:
            line = exc.position[0] if getattr(exc, "position", None) else "?"
            raise SourceError(f"malformed WXR export at line {line}: {exc}") from exc
        except defusedxml.EntitiesForbidden as exc:
            raise SourceError(
                f"refusing {name}: it declares XML entities ({exc.name}), which an export "
                "never does and an XML bomb does"
            ) from exc
        except defusedxml.DefusedXmlException as exc:
            raise SourceError(f"refusing {name}: unsafe XML ({exc})") from exc
        if channel is None:
            raise SourceError(f"{name} is not a WordPress export: it has no <rss><channel>")


def _is_child(parent: Element, element: Element) -> bool:
    # Items are removed as they complete, so the channel holds at most a few children.
    return any(child is element for child in reversed(parent))


def _document_from_item(item: Element, authors: dict[str, str]) -> SourceDocument | None:
    fields: dict[str, str] = {}
    terms: dict[str, list[str]] = {}
    for child in item:
        tag = _short_tag(child.tag)
        if tag == "category":
            taxonomy = child.get("domain") or "category"
            # WordPress stores term names HTML-escaped ("News &amp; Views") and exports them so.
            name = html.unescape((child.text or "").strip())
            if name and taxonomy not in IGNORED_TAXONOMIES:
                terms.setdefault(taxonomy, []).append(name)
        elif tag not in fields:
            fields[tag] = child.text or ""
    post_type = fields.get("wp:post_type", "post").strip() or "post"
    if post_type in INTERNAL_POST_TYPES:
        return None
    wp_id = _int_field(fields, "wp:post_id")
    if wp_id is None:
        title = fields.get("title", "")[:80]
        raise SourceError(f"WXR item {title!r} has no numeric wp:post_id: not a WordPress export?")
    is_attachment = post_type == ATTACHMENT_TYPE
    media_url = fields.get("wp:attachment_url", "").strip() or None
    creator = fields.get("dc:creator", "").strip()
    return SourceDocument(
        wp_id=wp_id,
        type=post_type,
        status=fields.get("wp:status", "").strip() or ("inherit" if is_attachment else "publish"),
        # Titles saved without unfiltered_html are stored escaped; REST hands them out
        # unescaped (by us), so both sources agree on "Q&A".
        title=html.unescape(fields.get("title", "").strip()),
        url=fields.get("link", "").strip() or (media_url or "" if is_attachment else ""),
        content_html=fields.get("content:encoded", ""),
        excerpt=fields.get("excerpt:encoded", ""),
        author=authors.get(creator, creator),
        modified_gmt=parse_wp_gmt(fields.get("wp:post_modified_gmt")),
        published_gmt=parse_wp_gmt(fields.get("wp:post_date_gmt")),
        password_protected=bool(fields.get("wp:post_password", "").strip()),
        terms=terms,
        parent_id=_int_field(fields, "wp:post_parent") or None,
        mime_type=_guess_mime(media_url) if is_attachment else None,
        media_url=media_url if is_attachment else None,
    )


_prefix_cache: dict[str, str | None] = {}


def _short_tag(tag: str) -> str:
    """'{http://wordpress.org/export/1.2/}post_id' → 'wp:post_id' (any WXR 1.x version)."""
    if not tag.startswith("{"):
        return tag
    uri, _, local = tag[1:].partition("}")
    if uri not in _prefix_cache:
        prefix = _FIXED_PREFIXES.get(uri)
        if prefix is None and _WP_NS.match(uri):
            prefix = "wp"
        elif prefix is None and _EXCERPT_NS.match(uri):
            prefix = "excerpt"
        _prefix_cache[uri] = prefix
    prefix = _prefix_cache[uri]
    return f"{prefix}:{local}" if prefix else tag


def _child_text(element: Element, short_tag: str) -> str:
    for child in element:
        if _short_tag(child.tag) == short_tag:
            return (child.text or "").strip()
    return ""


def _int_field(fields: dict[str, str], tag: str) -> int | None:
    try:
        return int(fields.get(tag, "").strip())
    except ValueError:
        return None


def _guess_mime(url: str | None) -> str | None:
    # WXR does not carry post_mime_type; the file extension is what WordPress derived it from.
    return mimetypes.guess_type(urlsplit(url).path)[0] if url else None


def _modified_since(doc: SourceDocument, modified_after: datetime | None) -> bool:
    if modified_after is None or doc.modified_gmt is None:
        return True
    aware = modified_after if modified_after.tzinfo else modified_after.replace(tzinfo=UTC)
    return doc.modified_gmt > aware
