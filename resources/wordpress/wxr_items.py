"""What a WXR export says, whichever reader got it out: channel facts, authors and items.

Both readers (the streaming XML parser and the tolerant scanner for exports that are not
well-formed XML) produce these records, so mapping an item to a `SourceDocument` is written
once. Namespaces are matched by URI, never by prefix, the way WordPress's importer does it:
`wp:`, `wp2:` or any other prefix bound to `http://wordpress.org/export/1.N/` reads alike.
"""

from __future__ import annotations

import html
import mimetypes
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from pressrag.resources.models import ATTACHMENT_TYPE, SourceDocument
from pressrag.resources.wordpress._common import IGNORED_TAXONOMIES, parse_wp_gmt, with_footnotes
from pressrag.resources.wordpress.autop import autop, has_blocks

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
# Channel children kept as facts about the export (the first value of each wins).
CHANNEL_FACTS = frozenset(
    {
        "title",
        "link",
        "description",
        "language",
        "wp:wxr_version",
        "wp:base_site_url",
        "wp:base_blog_url",
    }
)
# Post meta keys that carry public content.
CONTENT_META_KEYS = frozenset({"footnotes"})

_WP_NS = re.compile(r"^https?://wordpress\.org/export/\d+\.\d+/$")
_EXCERPT_NS = re.compile(r"^https?://wordpress\.org/export/\d+\.\d+/excerpt/$")
_FIXED_NS = {
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
}


def canonical_prefix(uri: str) -> str | None:
    """The prefix WordPress writes for a namespace URI ('wp', 'excerpt', 'content', 'dc')."""
    if uri in _FIXED_NS:
        return _FIXED_NS[uri]
    if _WP_NS.match(uri):
        return "wp"
    if _EXCERPT_NS.match(uri):
        return "excerpt"
    return None


_tag_cache: dict[str, str] = {}


def canonical_tag(tag: str) -> str:
    """'{http://wordpress.org/export/1.0/}post_id' → 'wp:post_id'; other namespaces unchanged."""
    if not tag.startswith("{"):
        return tag
    cached = _tag_cache.get(tag)
    if cached is None:
        uri, _, local = tag[1:].partition("}")
        prefix = canonical_prefix(uri)
        cached = f"{prefix}:{local}" if prefix else tag
        if len(_tag_cache) < 4096:  # bounded: a hostile export may invent endless namespaces
            _tag_cache[tag] = cached
    return cached


@dataclass(frozen=True)
class ChannelFact:
    tag: str  # one of CHANNEL_FACTS
    value: str


@dataclass(frozen=True)
class Author:
    login: str
    display_name: str


@dataclass
class RawItem:
    """An `<item>` as read, before it is judged: first text of each tag, terms, content meta."""

    line: int
    fields: dict[str, str] = field(default_factory=dict)
    categories: list[tuple[str, str]] = field(default_factory=list)  # (taxonomy, name)
    meta: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # why the item cannot be trusted (set by the tolerant reader)


@dataclass(frozen=True)
class WxrItemFailure:
    """An item the reader could not recover: it costs that post, not the export."""

    line: int
    reason: str
    wp_id: int | None = None
    title: str = ""

    def __str__(self) -> str:
        what = f"post {self.wp_id}" if self.wp_id is not None else "an item"
        title = f" {self.title!r}" if self.title else ""
        return f"line {self.line}: {what}{title}: {self.reason}"

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "wp_id": self.wp_id, "title": self.title, "reason": self.reason}


Entry = ChannelFact | Author | RawItem | WxrItemFailure


def channel_entry(tag: str, element: Element, line: int) -> Entry | None:
    """The record for one complete child of `<channel>` (None for what is of no interest)."""
    if tag == "item":
        return item_from_element(element, line)
    if tag in CHANNEL_FACTS:
        return ChannelFact(tag, (element.text or "").strip())
    if tag == "wp:author":
        login = _child_text(element, "wp:author_login")
        return Author(login, _child_text(element, "wp:author_display_name") or login)
    return None


def item_from_element(item: Element, line: int) -> RawItem:
    raw = RawItem(line=line)
    for child in item:
        tag = canonical_tag(child.tag)
        if tag == "category":
            # As WordPress imports terms: only those with a nicename (WXR 1.0 also lists
            # each one plainly, without domain or nicename).
            if child.get("nicename") is not None:
                raw.categories.append((child.get("domain") or "category", child.text or ""))
        elif tag == "wp:postmeta":
            key = _child_text(child, "wp:meta_key")
            if key in CONTENT_META_KEYS and key not in raw.meta:
                raw.meta[key] = _child_text(child, "wp:meta_value", strip=False)
        elif tag not in raw.fields:
            raw.fields[tag] = child.text or ""
    return raw


def item_type(raw: RawItem) -> str:
    """The item's post type as WordPress imports it (none given: a post)."""
    return raw.fields.get("wp:post_type", "").strip() or "post"


def item_id(raw: RawItem) -> int | None:
    return _int_field(raw.fields, "wp:post_id")


def document_from_item(
    raw: RawItem, authors: dict[str, str], *, render: bool = True
) -> SourceDocument | WxrItemFailure | None:
    """The item as a document; a failure when it cannot be one; None for WordPress internals.
    With `render` False its content is left empty: rendering it (`wpautop`) is nearly all of
    a pass's time, and a pass that wants only some items' content need not pay for the rest."""
    fields = raw.fields
    title = html.unescape(fields.get("title", "").strip())
    wp_id = item_id(raw)
    if raw.error:
        return WxrItemFailure(raw.line, raw.error, wp_id, title[:200])
    post_type = item_type(raw)
    if post_type in INTERNAL_POST_TYPES:
        return None
    if wp_id is None:
        return WxrItemFailure(raw.line, "no numeric <wp:post_id>", None, title[:200])
    is_attachment = post_type == ATTACHMENT_TYPE
    media_url = fields.get("wp:attachment_url", "").strip() or None
    creator = fields.get("dc:creator", "").strip()
    return SourceDocument(
        wp_id=wp_id,
        type=post_type,
        # As WordPress imports it: a post without a status is a draft, an attachment inherits.
        status=fields.get("wp:status", "").strip() or ("inherit" if is_attachment else "draft"),
        # Titles saved without unfiltered_html are stored escaped; REST hands them out
        # unescaped (by us), so both sources agree on "Q&A".
        title=title,
        url=_item_url(fields, media_url if is_attachment else None),
        content_html=(
            _rendered_content(fields.get("content:encoded", ""), raw.meta) if render else ""
        ),
        excerpt=fields.get("excerpt:encoded", ""),
        author=authors.get(creator, creator),
        modified_gmt=parse_wp_gmt(fields.get("wp:post_modified_gmt")),
        published_gmt=parse_wp_gmt(fields.get("wp:post_date_gmt")),
        password_protected=bool(fields.get("wp:post_password", "").strip()),
        terms=_terms(raw.categories),
        parent_id=_int_field(fields, "wp:post_parent") or None,
        mime_type=_guess_mime(media_url) if is_attachment else None,
        media_url=media_url if is_attachment else None,
    )


def _rendered_content(content: str, meta: dict[str, str]) -> str:
    """The post's HTML as WordPress renders it (what REST hands out): classic content gets
    its paragraphs (`wpautop`), block content its footnotes."""
    if has_blocks(content):
        return with_footnotes(content, meta.get("footnotes"))
    return autop(content)


def item_link(raw: RawItem) -> str | None:
    """The item's own http(s) URL (`<link>`, else a URL `<guid>`), for a site URL guess."""
    url = _item_url(raw.fields, None)
    return url if urlsplit(url).scheme in ("http", "https") else None


def _item_url(fields: dict[str, str], media_url: str | None) -> str:
    link = fields.get("link", "").strip()
    if link:
        return link
    guid = fields.get("guid", "").strip()
    if urlsplit(guid).scheme in ("http", "https"):
        return guid  # WordPress writes the permalink at publication time as the guid
    return media_url or ""


def _terms(categories: list[tuple[str, str]]) -> dict[str, list[str]]:
    terms: dict[str, list[str]] = {}
    for taxonomy, text in categories:
        # WordPress stores term names HTML-escaped ("News &amp; Views") and exports them so.
        name = html.unescape(text.strip())
        if name and taxonomy not in IGNORED_TAXONOMIES:
            terms.setdefault(taxonomy, []).append(name)
    return terms


def _child_text(element: Element, tag: str, *, strip: bool = True) -> str:
    for child in element:
        if canonical_tag(child.tag) == tag:
            text = child.text or ""
            return text.strip() if strip else text
    return ""


def _int_field(fields: dict[str, str], tag: str) -> int | None:
    try:
        return int(fields.get(tag, "").strip())
    except ValueError:
        return None


def _guess_mime(url: str | None) -> str | None:
    # WXR does not carry post_mime_type; the file extension is what WordPress derived it from.
    return mimetypes.guess_type(urlsplit(url).path)[0] if url else None
