"""Registering a site: its row, its secrets, its first admin API key, its Dagster partition,
and its WXR export."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from pressrag.orchestration.environment import prepare
from pressrag.resources.errors import ConfigError
from pressrag.resources.gateway.keys import create_key, has_active_key
from pressrag.resources.secrets import SecretStore, new_key_id, new_secret
from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from pressrag.resources.store.exports import register_export
from pressrag.resources.store.sites import SITE_ID, Site, get_site, list_sites, upsert_site
from pressrag.resources.wordpress import read_wxr_site, site_url_of
from pressrag.resources.wordpress.wxr_media import media_beside

PARTITIONS_NAME = "sites"


@dataclass
class AddedSite:
    site: Site
    new_secrets: dict[str, str] = field(default_factory=dict)
    export: ExportFile | None = None
    # The site's first admin API key (for the plugin's status panel), when it had none.
    new_admin_key: str | None = None
    new_admin_key_id: str | None = None


@dataclass(frozen=True)
class ExportFile:
    """A WXR export checked before a site reads from it."""

    path: Path
    site_url: str  # --url, else what the export names
    exported_url: str | None  # what the export names
    media: str | None  # --media (a folder or zip), else None: found beside the export
    media_found: str | None  # the media the export's attachments will be read from now
    size: int
    sha256: str


def inspect_export(wxr: str, *, url: str | None = None, media: str | None = None) -> ExportFile:
    """Check that `wxr` is a WordPress export and find its site URL and media, or say why not."""
    path = Path(wxr).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"WXR file not found: {path}")
    exported_url = site_url_of(read_wxr_site(path))  # SourceError: not a WXR export
    site_url = (url or exported_url or "").rstrip("/")
    if not site_url:
        raise ConfigError(
            f"{path} names no site URL (no <link>, <wp:base_blog_url> or <wp:base_site_url>, "
            "and no item with a link): give it with --url"
        )
    origin_of(site_url)  # raises ConfigError unless it is an http(s) URL
    media_path = str(Path(media).expanduser().resolve()) if media else None
    found = media_beside(path, media_path)  # SourceError when --media does not exist
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return ExportFile(
        path=path,
        site_url=site_url,
        exported_url=exported_url,
        media=media_path,
        media_found=found.description if found else None,
        size=path.stat().st_size,
        sha256=digest.hexdigest(),
    )


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
    media: str | None = None,
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
    if not wxr and not url:
        raise ConfigError("give the site's --url, or a --wxr export")
    if not wxr and media:
        raise ConfigError("--media goes with --wxr: it holds the export's uploaded files")
    export = inspect_export(wxr, url=url, media=media) if wxr else None
    urls = prepare()
    settings = get_settings()
    secrets = SecretStore(settings.resolved_home)
    base_url = export.site_url if export else str(url).rstrip("/")
    origin = origin_of(base_url)
    settings_json: dict = {"post_types": post_types or ["post", "page"]}
    settings_json["origins"] = sorted(set([origin, *(origin_of(o) for o in origins or [])]))
    if export:
        settings_json["wxr_media"] = export.media
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
            source_kind="wxr" if export else "rest",
            base_url=base_url,
            wxr_path=str(export.path) if export else None,
            settings=settings_json,
            webhook_key_ids=_ensure_secret(
                secrets, existing.webhook_key_ids if existing else [], site_id, "webhook", new
            ),
            token_key_ids=_ensure_secret(
                secrets, existing.token_key_ids if existing else [], site_id, "token", new
            ),
        )
        upsert_site(conn, site)
        if export:
            _register(conn, site_id, export)
        first_key = None
        if not has_active_key(conn, site_id, "admin"):
            first_key = create_key(conn, site_id, ["admin"], name="first admin key (sites add)")
    register_partition(site_id)
    return AddedSite(
        site=site,
        new_secrets=new,
        export=export,
        new_admin_key=first_key.key if first_key else None,
        new_admin_key_id=first_key.info.id if first_key else None,
    )


def update_export(
    site_id: str, wxr: str, *, media: str | None = None, url: str | None = None
) -> AddedSite:
    """Make a newer export the one a WXR site reads from. The next index applies only what
    differs (added, changed, removed posts); unchanged posts cost nothing to re-read."""
    export = inspect_export(wxr, url=url, media=media)
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        site = get_site(conn, site_id)
        if site is None:
            raise ConfigError(f"unknown site {site_id!r}; add it with `pressrag sites add`")
        if site.source_kind != "wxr":
            raise ConfigError(
                f"site {site_id} reads the REST API of {site.base_url}; "
                f"`pressrag sites add {site_id} --wxr FILE` makes it read an export instead"
            )
        if not url and export.site_url != site.base_url:
            raise ConfigError(
                f"{export.path} is an export of {export.site_url}, but site {site_id} is "
                f"{site.base_url}: pass --url {site.base_url} to read it as this site "
                f"(a staging copy), or --url {export.site_url} to move the site"
            )
        settings = {**site.settings, "wxr_media": export.media}
        settings["origins"] = sorted({*site.origins, origin_of(export.site_url)})
        site = replace(site, base_url=export.site_url, wxr_path=str(export.path), settings=settings)
        upsert_site(conn, site)
        _register(conn, site_id, export)
    return AddedSite(site=site, export=export)


def export_lines(export: ExportFile | None) -> list[str]:
    """What `sites add/update` say about an export they were given."""
    if export is None:
        return []
    media = export.media_found or "none found (no uploads/ folder or uploads.zip beside it)"
    return [
        f"  export {export.path} ({export.size / 1e6:.1f} MB, sha256 {export.sha256[:12]})",
        f"  media {media}",
    ]


def export_status_lines(export: dict | None) -> list[str]:
    """What `status` says about a site's current export (see `current_export`)."""
    if not export:
        return []
    read = (
        f"read {export['read_at']}: {export['items']} items, "
        f"{export['unreadable_items']} unreadable"
        if export["read_at"]
        else "not read yet"
    )
    changed = " (the file changed since it was given)" if export["changed_since_registered"] else ""
    lines = [f"    export {export['path']}, given {export['registered_at']}; {read}{changed}"]
    for failure in export["failures"]:
        what = f"post {failure['wp_id']}" if failure["wp_id"] is not None else "an item"
        title = f" {failure['title']!r}" if failure["title"] else ""
        lines.append(f"    unreadable: line {failure['line']}: {what}{title}: {failure['reason']}")
    return lines


def _register(conn: psycopg.Connection, site_id: str, export: ExportFile) -> None:
    register_export(
        conn,
        site_id,
        path=str(export.path),
        media_path=export.media_found,
        size=export.size,
        sha256=export.sha256,
    )


def register_partition(site_id: str) -> None:
    import dagster as dg

    instance = dg.DagsterInstance.get()
    if not instance.has_dynamic_partition(PARTITIONS_NAME, site_id):
        instance.add_dynamic_partitions(PARTITIONS_NAME, [site_id])


@dataclass(frozen=True)
class SiteFootprint:
    """What removing a site deletes."""

    site: Site
    documents: int
    chunks: int
    secrets: list[str]


def _unfinished_run_statuses() -> list:
    import dagster as dg

    return [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]


def _footprint(conn: psycopg.Connection, site_id: str) -> SiteFootprint:
    site = get_site(conn, site_id)
    if site is None:
        raise ConfigError(f"no site {site_id!r} (pressrag sites list)")
    documents, chunks = conn.execute(
        "SELECT (SELECT count(*) FROM documents WHERE site_id = %(s)s), "
        "(SELECT count(*) FROM chunks WHERE site_id = %(s)s)",
        {"s": site_id},
    ).fetchone()
    key_ids = [*site.webhook_key_ids, *site.token_key_ids]
    if site.settings.get("app_password_key_id"):
        key_ids.append(str(site.settings["app_password_key_id"]))
    return SiteFootprint(site, documents, chunks, key_ids)


def site_footprint(site_id: str) -> SiteFootprint:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        return _footprint(conn, site_id)


def remove_site(site_id: str) -> SiteFootprint:
    """Delete a site: its row and everything that hangs off it (documents, chunks, inbox,
    summaries, quality history: foreign keys cascade), its secrets and its Dagster partition.

    Refused while a run of the site is unfinished: the run would fail half-way. A run that
    starts after the check cannot leave anything behind either: its writes reference the
    deleted site row and fail, and once the row is gone the run launcher refuses new runs of
    the site (orchestration/run_launcher.py).
    """
    import dagster as dg

    urls = prepare()
    instance = dg.DagsterInstance.get()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        footprint = _footprint(conn, site_id)
        running = instance.get_run_records(
            dg.RunsFilter(tags={"dagster/partition": site_id}, statuses=_unfinished_run_statuses()),
            limit=1,
        )
        if running:
            raise ConfigError(
                f"site {site_id!r} has an unfinished Dagster run "
                f"({running[0].dagster_run.run_id}): wait for it, or terminate it in the "
                "Dagster UI, then remove the site"
            )
        conn.execute("DELETE FROM sites WHERE id = %s", (site_id,))
    secrets = SecretStore(get_settings().resolved_home)
    for key_id in footprint.secrets:
        secrets.delete(key_id)
    if instance.has_dynamic_partition(PARTITIONS_NAME, site_id):
        instance.delete_dynamic_partition(PARTITIONS_NAME, site_id)
    return footprint


def list_registered_sites() -> list[Site]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        return list_sites(conn)
