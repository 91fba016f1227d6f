"""Sites: the WordPress installations we index."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import psycopg

SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Site:
    id: str
    source_kind: str  # "rest" or "wxr"
    base_url: str
    wxr_path: str | None = None
    settings: dict = field(default_factory=dict)
    webhook_key_ids: list[str] = field(default_factory=list)
    token_key_ids: list[str] = field(default_factory=list)

    @property
    def post_types(self) -> list[str]:
        return list(self.settings.get("post_types", ["post", "page"]))

    @property
    def ts_config(self) -> str:
        return str(self.settings.get("ts_config", "english"))

    @property
    def origins(self) -> list[str]:
        return list(self.settings.get("origins", []))


_COLUMNS = "id, source_kind, base_url, wxr_path, settings, webhook_key_ids, token_key_ids"


def get_site(conn: psycopg.Connection, site_id: str) -> Site | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM sites WHERE id = %s", (site_id,)).fetchone()
    return Site(*row) if row else None


def list_sites(conn: psycopg.Connection) -> list[Site]:
    return [Site(*r) for r in conn.execute(f"SELECT {_COLUMNS} FROM sites ORDER BY id")]


def upsert_site(conn: psycopg.Connection, site: Site) -> None:
    conn.execute(
        f"INSERT INTO sites ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (id) DO UPDATE SET source_kind = EXCLUDED.source_kind, "
        "base_url = EXCLUDED.base_url, wxr_path = EXCLUDED.wxr_path, "
        "settings = EXCLUDED.settings, webhook_key_ids = EXCLUDED.webhook_key_ids, "
        "token_key_ids = EXCLUDED.token_key_ids",
        (
            site.id,
            site.source_kind,
            site.base_url,
            site.wxr_path,
            json.dumps(site.settings),
            site.webhook_key_ids,
            site.token_key_ids,
        ),
    )
