"""Per-site API keys: `prk_` + 32 random bytes (base64url), shown once, stored as SHA-256.

Why SHA-256 and not a password hash: a key has 256 bits of entropy, so its hash cannot be
inverted by guessing, and a slow hash (bcrypt, scrypt: ~100 ms by design) would cost that on
every request while protecting nothing more. Why no pepper: a pepper guards low-entropy
secrets against an attacker with the database; these keys are not guessable either way. A
lookup is by the hash itself (a unique index), so comparing keys leaks no timing about them.

Scopes: `search`, `ask` and `admin`; `admin` grants the other two as well, plus the site's
status, usage and reindex routes. A key belongs to one site and can reach only that site.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from pressrag.resources.errors import ConfigError

PREFIX = "prk_"
SCOPES = ("search", "ask", "admin")
_KEY = re.compile(r"^prk_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ApiKey:
    id: str
    site_id: str
    name: str
    scopes: tuple[str, ...]
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class CreatedKey:
    key: str  # the secret itself: shown once, never stored
    info: ApiKey


def looks_like_key(token: str) -> bool:
    return bool(_KEY.match(token))


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()


def new_key() -> str:
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise ConfigError(f"scopes must be some of {', '.join(SCOPES)} (got {list(chosen)})")
    return chosen


_COLUMNS = "id, site_id, name, scopes, hint, created_at, last_used_at, revoked_at"


def _key(row: tuple) -> ApiKey:
    return ApiKey(row[0], row[1], row[2], tuple(row[3]), *row[4:])


def create_key(
    conn: psycopg.Connection, site_id: str, scopes: Iterable[str], name: str = ""
) -> CreatedKey:
    chosen = check_scopes(scopes)
    key = new_key()
    row = conn.execute(
        f"INSERT INTO api_keys (id, site_id, name, scopes, key_hash, hint) "
        f"VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
        (
            "key_" + secrets.token_hex(6),
            site_id,
            name.strip()[:200],
            list(chosen),
            key_hash(key),
            f"{PREFIX}…{key[-4:]}",
        ),
    ).fetchone()
    assert row is not None
    return CreatedKey(key, _key(row))


def list_keys(conn: psycopg.Connection, site_id: str | None = None) -> list[ApiKey]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE %(site)s::text IS NULL OR site_id = %(site)s "
        "ORDER BY site_id, created_at, id",
        {"site": site_id},
    ).fetchall()
    return [_key(r) for r in rows]


def revoke_key(conn: psycopg.Connection, key_id: str, site_id: str | None = None) -> ApiKey | None:
    """Revoke a key (of `site_id`, when given); None when there is no such active key."""
    row = conn.execute(
        f"UPDATE api_keys SET revoked_at = now() WHERE id = %(id)s AND revoked_at IS NULL "
        f"AND (%(site)s::text IS NULL OR site_id = %(site)s) RETURNING {_COLUMNS}",
        {"id": key_id, "site": site_id},
    ).fetchone()
    return _key(row) if row else None


def find_active_key(conn: psycopg.Connection, key: str) -> ApiKey | None:
    """The active key with this secret, noting its use (at most once a minute per key)."""
    if not looks_like_key(key):
        return None
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL",
        (key_hash(key),),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE id = %s "
        "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (row[0],),
    )
    return _key(row)


def has_active_key(conn: psycopg.Connection, site_id: str, scope: str = "admin") -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM api_keys WHERE site_id = %s AND revoked_at IS NULL "
            "AND %s = ANY(scopes) LIMIT 1",
            (site_id, scope),
        ).fetchone()
    )
