"""Signing callbacks to the plugin: the webhooks' Standard Webhooks scheme, other direction.

The plugin verifies `webhook-signature` = `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` over
the raw body, a timestamp within five minutes, and an id it has not seen. The key is not the
webhook key itself but one derived from it for this direction,
`HMAC-SHA256(webhook key, "pressrag-callback-v1")`: the site needs no new secret, and a message
signed for one direction can never verify in the other (no reflection of a captured webhook
back at WordPress, or of a callback at the backend).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

from pressrag.resources.secrets import secret_bytes
from pressrag.resources.webhooks import sign, verify

CALLBACK_KEY_LABEL = b"pressrag-callback-v1"


def callback_key(secret: str) -> bytes:
    """The callback HMAC key of one `whsec_…` webhook secret."""
    return hmac.new(secret_bytes(secret), CALLBACK_KEY_LABEL, hashlib.sha256).digest()


def callback_headers(
    secrets: list[str],
    site_id: str,
    body: bytes,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Headers of one signed callback: a fresh id, now, one signature per active secret."""
    msg_id = msg_id or f"cb_{uuid.uuid4()}"
    stamp = int(time.time()) if timestamp is None else timestamp
    signatures = " ".join(sign(callback_key(s), msg_id, stamp, body) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signatures,
        "X-PressRAG-Site": site_id,
        "Content-Type": "application/json",
    }


def verify_callback(
    secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None
) -> str:
    """The message id of a callback that verifies under `secret` (what the plugin checks);
    raises `resources.webhooks.WebhookError` otherwise."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, _ = verify(
        [callback_key(secret)],
        msg_id=lower.get("webhook-id"),
        timestamp=lower.get("webhook-timestamp"),
        signature=lower.get("webhook-signature"),
        body=body,
        now=now,
    )
    return msg_id
