"""What text may be stored, and what URLs and titles may be given back to readers.

PostgreSQL refuses NUL in `text` and `jsonb`, and psycopg cannot encode a lone UTF-16
surrogate to UTF-8: either would fail the statement (and, before issue 10, the whole run of a
site). Everything a source gives us goes through `storable()` before it is written.

Titles are plain text (docs/contracts.md): markup in a WordPress title is formatting, so it is
removed, never passed on for a client to interpret. URLs returned with results must be ones a
reader can follow safely: http(s) on one of the site's own origins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>", re.S)
_SPACES = re.compile(r"\s+")
MAX_REFUSED_URL_CHARS = 200


def storable(text: str) -> str:
    """`text` without NUL, with surrogate pairs joined and lone surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def is_storable(text: str) -> bool:
    return "\x00" not in text and _SURROGATE.search(text) is None


def plain_title(title: str) -> str:
    """A title as plain text: tags and comments removed, whitespace collapsed."""
    return _SPACES.sub(" ", _TAG.sub(" ", storable(title))).strip()


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL with the default port filled in, else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def refused_url_reason(url: str, site_origins: Iterable[str]) -> str | None:
    """Why `url` may not be returned to readers, or None when it may."""
    if not url:
        return None
    own = origin(url)
    shown = storable(url)[:MAX_REFUSED_URL_CHARS]
    if own is None:
        return f"refused {shown!r}: not an http(s) URL"
    if own not in {origin(o) for o in site_origins}:
        return f"refused {shown!r}: not on the site's origins"
    return None
