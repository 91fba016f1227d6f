"""Small helpers both WordPress sources share: timestamps, same-origin checks, footnotes."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

# Taxonomies that describe presentation (menus, post formats), not content.
IGNORED_TAXONOMIES = frozenset({"nav_menu", "post_format"})


def parse_wp_gmt(value: object) -> datetime | None:
    """A WordPress GMT timestamp as an aware UTC datetime; None when unset.

    REST gives "2024-05-01T10:00:00", WXR "2024-05-01 10:00:00"; both without a zone because
    they are GMT by definition. Drafts carry "0000-00-00 00:00:00" (WXR) or null (REST).
    """
    if not isinstance(value, str) or not value.strip() or value.startswith("0000-00-00"):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace(" ", "T"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def origin_of(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with the default port filled in, for same-origin checks."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme, 0)


# ---- block editor footnotes ----------------------------------------------------------------

# `<!-- wp:footnotes /-->` in raw post content (WXR); WordPress renders it from post meta.
_FOOTNOTES_BLOCK = re.compile(
    r"<!--\s*wp:(?:core/)?footnotes\b[^<>]*?(?:/-->|-->.*?<!--\s*/wp:(?:core/)?footnotes\s*-->)",
    re.S,
)
# What WordPress rendered for that block (REST `content.rendered`). Footnote content is
# inline rich text, so the list holds no nested `</ol>`.
_RENDERED_FOOTNOTES = re.compile(
    r"<ol\b[^>]*\bclass=\"[^\"]*\bwp-block-footnotes\b[^\"]*\"[^>]*>.*?</ol>", re.S
)


def parse_footnotes(value: object) -> list[tuple[str, str]]:
    """(id, content HTML) pairs from the `footnotes` post meta: a JSON list of {id, content},
    as a string (WXR, REST) or already decoded. Anything else is no footnotes."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return []
    if not isinstance(value, list):
        return []
    notes = []
    for entry in value:
        if isinstance(entry, dict):
            note_id, content = entry.get("id"), entry.get("content")
            if isinstance(note_id, str) and isinstance(content, str) and content.strip():
                notes.append((note_id, content))
    return notes


def with_footnotes(content_html: str, footnotes: object) -> str:
    """Post HTML with its footnotes where WordPress shows them: in place of the footnotes block.

    WordPress renders the `core/footnotes` block from the post meta at view time, so a WXR
    export holds only `<!-- wp:footnotes /-->` and the REST API the rendered list (with
    back-links). Both become the same `<ol class="wp-block-footnotes">`. A post without the
    block does not show its footnotes, so they are not added.
    """
    notes = parse_footnotes(footnotes)
    if not notes:
        return content_html
    items = "".join(f'<li id="{html.escape(i)}">{content}</li>' for i, content in notes)
    rendered = f'<ol class="wp-block-footnotes">{items}</ol>'
    for pattern in (_FOOTNOTES_BLOCK, _RENDERED_FOOTNOTES):
        replaced, count = pattern.subn(lambda _: rendered, content_html, count=1)
        if count:
            return replaced
    return content_html
