"""Site secrets (webhook signing keys, token signing keys), kept outside the database.

The `sites` row names its keys; the key material comes from the environment
(`PRESSRAG_SECRET_<KEY_ID>` with `-` as `_`, upper-cased) or from a 0600 file
`$PRESSRAG_HOME/secrets/<key_id>`. A database dump therefore never carries a signing key, and
a deployment can inject keys from its secret manager as environment variables.
Secrets use the Standard Webhooks form `whsec_<base64>`; the HMAC key is the decoded bytes.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

_KEY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,100}$")
PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """HMAC key bytes of a `whsec_…` secret (a bare base64 string is accepted too)."""
    raw = secret.removeprefix(PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("secret is not valid base64 after the whsec_ prefix") from exc


def new_key_id(site_id: str, purpose: str) -> str:
    return f"{site_id}-{purpose}-{secrets.token_hex(4)}"


def _env_name(key_id: str) -> str:
    return "PRESSRAG_SECRET_" + key_id.upper().replace("-", "_")


class SecretStore:
    def __init__(self, home: Path) -> None:
        self.folder = home / "secrets"

    def get(self, key_id: str) -> str | None:
        if not _KEY_ID.match(key_id):
            return None
        from_env = os.environ.get(_env_name(key_id))
        if from_env:
            return from_env
        path = self.folder / key_id
        try:
            return path.read_text(encoding="ascii").strip()
        except OSError:
            return None

    def put(self, key_id: str, secret: str) -> Path:
        if not _KEY_ID.match(key_id):
            raise ValueError(f"invalid key id {key_id!r}")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / key_id
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
        return path

    def delete(self, key_id: str) -> None:
        """Forget a secret kept in a file (one from the environment is the operator's)."""
        if _KEY_ID.match(key_id):
            (self.folder / key_id).unlink(missing_ok=True)

    def get_many(self, key_ids: list[str]) -> list[str]:
        """The secrets that resolve, in order (missing ones are skipped)."""
        return [s for s in (self.get(k) for k in key_ids) if s]
