"""Registering a site: its row, its secrets, and its Dagster partition."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from orchestration.environment import prepare
from resources.errors import ConfigError
from resources.secrets import SecretStore, new_key_id, new_secret
from resources.settings import get_settings
from resources.store import Store
from resources.store.sites import SITE_ID, Site, get_site, list_sites, upsert_site
from resources.wordpress import read_wxr_site

PARTITIONS_NAME = "sites"


@dataclass
class AddedSite:
    site: Site
    new_secrets: dict[str, str] = field(default_factory=dict)


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{url!r} is not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}"


def _ensure_secret(
    store: SecretStore, existing: list[str], site_id: str, purpose: str, out: dict[str, str]
) -> list[str]:
    if existing and store.get_many(existing):
        return existing
    key_id = new_key_id(site_id, purpose)
    secret = new_secret()
    store.put(key_id, secret)
    out[f"{purpose} secret ({key_id})"] = secret
    return [key_id]


def add_site(
    site_id: str,
    *,
    url: str | None = None,
    wxr: str | None = None,
    post_types: list[str] | None = None,
    origins: list[str] | None = None,
    wp_username: str | None = None,
    app_password_env: str | None = None,
    extra_settings: dict[str, object] | None = None,
) -> AddedSite:
    if not SITE_ID.match(site_id):
        raise ConfigError(
            f"invalid site id {site_id!r}: use lowercase letters, digits and dashes (≤ 63)"
        )
    urls = prepare()
    settings = get_settings()
    secrets = SecretStore(settings.resolved_home)
    wxr_path: str | None = None
    if wxr:
        path = Path(wxr).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"WXR file not found: {path}")
        info = read_wxr_site(path)  # raises SourceError for a file that is not a WXR export
        base_url = str(info.get("base_blog_url") or info.get("link") or "").rstrip("/")
        wxr_path = str(path)
        if not base_url:
            raise ConfigError(f"{path} names no site URL (channel/link)")
    else:
        assert url is not None
        base_url = url.rstrip("/")
    origin = origin_of(base_url)
    settings_json: dict = {"post_types": post_types or ["post", "page"]}
    settings_json["origins"] = sorted(set([origin, *(origin_of(o) for o in origins or [])]))
    new: dict[str, str] = {}
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        existing = get_site(conn, site_id)
        if existing:
            settings_json = {**existing.settings, **settings_json}
        settings_json.update(extra_settings or {})  # e.g. summary length and language
        if wp_username:
            settings_json["wp_username"] = wp_username
        if app_password_env:
            value = os.environ.get(app_password_env)
            if not value:
                raise ConfigError(f"environment variable {app_password_env} is not set")
            key_id = f"{site_id}-wp-app-password"
            secrets.put(key_id, value)
            settings_json["app_password_key_id"] = key_id
        site = Site(
            id=site_id,
            source_kind="wxr" if wxr_path else "rest",
            base_url=base_url,
            wxr_path=wxr_path,
            settings=settings_json,
            webhook_key_ids=_ensure_secret(
                secrets, existing.webhook_key_ids if existing else [], site_id, "webhook", new
            ),
            token_key_ids=_ensure_secret(
                secrets, existing.token_key_ids if existing else [], site_id, "token", new
            ),
        )
        upsert_site(conn, site)
    register_partition(site_id)
    return AddedSite(site=site, new_secrets=new)


def register_partition(site_id: str) -> None:
    import dagster as dg

    instance = dg.DagsterInstance.get()
    if not instance.has_dynamic_partition(PARTITIONS_NAME, site_id):
        instance.add_dynamic_partitions(PARTITIONS_NAME, [site_id])


def list_registered_sites() -> list[Site]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        return list_sites(conn)
