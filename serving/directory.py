"""Sites and API keys as the serving layer needs them — cached.

Every authenticated request needs its site's token keys and origins, or its API key's row;
reading them from the database and the secret store each time would cost a round trip per
request. Entries live for `ttl` seconds, so a rotated secret, a new origin or a revoked key
takes effect within that time. API keys are cached by their SHA-256, never by the secret.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from pressrag.resources.gateway.keys import ApiKey, find_active_key, key_hash
from pressrag.resources.secrets import SecretStore, secret_bytes
from pressrag.resources.store import Store
from pressrag.resources.store.sites import Site, get_site, list_sites


@dataclass(frozen=True)
class SiteEntry:
    site: Site
    token_keys: tuple[bytes, ...]

    @property
    def id(self) -> str:
        return self.site.id

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(normalize_origin(o) for o in self.site.origins)


def normalize_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class SiteDirectory:
    def __init__(self, store: Store, secrets: SecretStore, *, ttl: float = 10.0) -> None:
        self.store = store
        self.secrets = secrets
        self.ttl = ttl
        self._entries: dict[str, tuple[float, SiteEntry | None]] = {}
        self._origins: tuple[float, frozenset[str]] | None = None
        self._keys: dict[bytes, tuple[float, ApiKey | None]] = {}
        self._lock = threading.Lock()

    def _entry(self, site: Site) -> SiteEntry:
        return SiteEntry(site, tuple(self._key_bytes(site.token_key_ids)))

    def _key_bytes(self, key_ids: list[str]) -> list[bytes]:
        keys = []
        for secret in self.secrets.get_many(key_ids):
            try:
                keys.append(secret_bytes(secret))
            except ValueError:
                continue  # one malformed key must not hide the others (rotation)
        return keys

    def webhook_keys(self, entry: SiteEntry | None) -> list[bytes]:
        """HMAC keys of the site's active webhook secrets, read from the secret store each
        time (none for an unknown site)."""
        return self._key_bytes(entry.site.webhook_key_ids) if entry is not None else []

    def get(self, site_id: str) -> SiteEntry | None:
        now = time.monotonic()
        cached = self._entries.get(site_id)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        with self.store.connection() as conn:
            site = get_site(conn, site_id)
        entry = self._entry(site) if site else None
        with self._lock:
            if len(self._entries) > 10_000:  # unknown ids are cached too; keep that bounded
                self._entries.clear()
            self._entries[site_id] = (now, entry)
        return entry

    def all_origins(self) -> frozenset[str]:
        """Every registered origin of every site (for CORS, which runs before auth)."""
        now = time.monotonic()
        if self._origins and now - self._origins[0] < self.ttl:
            return self._origins[1]
        with self.store.connection() as conn:
            sites = list_sites(conn)
        origins = frozenset(normalize_origin(o) for s in sites for o in s.origins)
        self._origins = (now, origins)
        return origins

    def api_key(self, key: str) -> ApiKey | None:
        """The active API key with this secret, or None (unknown or revoked)."""
        digest = key_hash(key)
        now = time.monotonic()
        cached = self._keys.get(digest)
        if cached and now - cached[0] < self.ttl:
            return cached[1]
        with self.store.connection() as conn:
            found = find_active_key(conn, key)
        with self._lock:
            if len(self._keys) > 10_000:  # unknown keys are cached too; keep that bounded
                self._keys.clear()
            self._keys[digest] = (now, found)
        return found
