"""Small helpers both WordPress sources share: timestamps and same-origin checks."""

from __future__ import annotations

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
