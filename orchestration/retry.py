"""`pressrag retry`: release quarantined documents so the next run tries them again."""

from __future__ import annotations

from pressrag.orchestration.environment import prepare
from pressrag.resources.errors import ConfigError
from pressrag.resources.store import Store
from pressrag.resources.store.documents import has_document, release_quarantine
from pressrag.resources.store.sites import get_site


def release_documents(site_id: str, wp_id: int | None = None) -> list[int]:
    """WP ids released from quarantine (all of the site's, or the one named)."""
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        if get_site(conn, site_id) is None:
            raise ConfigError(f"unknown site {site_id!r}")
        if wp_id is not None and not has_document(conn, site_id, wp_id):
            raise ConfigError(f"site {site_id!r} has no document {wp_id}")
        return release_quarantine(conn, site_id, wp_id)
