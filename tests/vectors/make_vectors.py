"""Generate the shared webhook-signature, token and write-back callback vectors.

Run: `python tests/vectors/make_vectors.py` (rewrites the JSON files next to it).

This is deliberately an *independent* implementation (Python stdlib only) of the wire formats in
docs/contracts.md, so that the PHP plugin and the Python backend are both checked against values
neither of them produced. Inputs are fixed, so the output is reproducible byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def secret_from_bytes(raw: bytes) -> str:
    """A Standard-Webhooks style secret: `whsec_` + base64 of the raw key bytes."""
    return "whsec_" + base64.b64encode(raw).decode("ascii")


def key_from_secret(secret: str) -> bytes:
    """The HMAC key is the base64-decoded part after `whsec_`."""
    return base64.b64decode(secret.removeprefix("whsec_"), validate=True)


def webhook_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`."""
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key_from_secret(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


CALLBACK_KEY_LABEL = b"pressrag-callback-v1"


def callback_key(secret: str) -> bytes:
    """Callbacks (backend → plugin) are signed with a key derived from the webhook secret."""
    return hmac.new(key_from_secret(secret), CALLBACK_KEY_LABEL, hashlib.sha256).digest()


def callback_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(callback_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact_json(value: dict[str, Any]) -> str:
    """Compact JSON, keys in the given order, `/` unescaped, non-ASCII as \\uXXXX."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def jwt_hs256(secret: str, claims: dict[str, Any]) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = (
        b64url(compact_json(header).encode()) + "." + b64url(compact_json(claims).encode())
    )
    digest = hmac.new(key_from_secret(secret), signing_input.encode("ascii"), hashlib.sha256)
    return signing_input + "." + b64url(digest.digest())


SECRET_A = secret_from_bytes(bytes(range(32)))
SECRET_B = secret_from_bytes(hashlib.sha256(b"pressrag rotation secret").digest())
TOKEN_SECRET = secret_from_bytes(hashlib.sha256(b"pressrag token secret").digest())


def webhook_cases() -> list[dict[str, Any]]:
    bodies = [
        (
            "document.upserted",
            {
                "type": "document.upserted",
                "site": "demo",
                "occurred_at": "2026-11-27T05:00:00Z",
                "data": {
                    "wp_id": 123,
                    "post_type": "post",
                    "status": "publish",
                    "modified_gmt": "2026-11-27T04:59:58",
                },
            },
        ),
        (
            "term.changed with unicode and slashes",
            {
                "type": "term.changed",
                "site": "demo-2",
                "occurred_at": "2026-11-27T05:01:00Z",
                "data": {
                    "taxonomy": "category",
                    "term_id": 7,
                    "wp_ids": [1, 2, 3],
                    "name": "Café/Bar",
                },
            },
        ),
        (
            "empty data",
            {
                "type": "site.settings_changed",
                "site": "demo",
                "occurred_at": "2026-11-27T05:02:00Z",
                "data": {},
            },
        ),
    ]
    cases: list[dict[str, Any]] = []
    for index, (name, payload) in enumerate(bodies):
        # Bodies are stored as the exact raw string that is signed; PHP's wp_json_encode with
        # JSON_UNESCAPED_SLASHES|JSON_UNESCAPED_UNICODE produces this same form.
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        for secret_name, secret in (("A", SECRET_A), ("B", SECRET_B)):
            msg_id = f"msg_0000000{index}-0000-4000-8000-00000000000{index}"
            timestamp = 1795755600 + index
            cases.append(
                {
                    "name": f"{name} (secret {secret_name})",
                    "secret": secret,
                    "id": msg_id,
                    "timestamp": timestamp,
                    "body": body,
                    "expected_signature": webhook_signature(secret, msg_id, timestamp, body),
                }
            )
    # Secret rotation: the header lists one signature per active secret, space separated.
    rotated = cases[0]
    cases.append(
        {
            "name": "rotation: two secrets, both signatures in one header",
            "secrets": [SECRET_A, SECRET_B],
            "id": rotated["id"],
            "timestamp": rotated["timestamp"],
            "body": rotated["body"],
            "expected_signature": " ".join(
                webhook_signature(s, rotated["id"], rotated["timestamp"], rotated["body"])
                for s in (SECRET_A, SECRET_B)
            ),
        }
    )
    return cases


def token_cases() -> list[dict[str, Any]]:
    claim_sets = [
        (
            "demo site",
            {
                "site": "demo",
                "origin": "https://example.org",
                "iat": 1795755600,
                "exp": 1795755900,
                "aud": "pressrag",
            },
        ),
        (
            "local origin with port",
            {
                "site": "local-1",
                "origin": "http://127.0.0.1:8080",
                "iat": 1795755000,
                "exp": 1795755300,
                "aud": "pressrag",
            },
        ),
        (
            "maximum lifetime",
            {
                "site": "x",
                "origin": "https://blog.example.net",
                "iat": 1795000000,
                "exp": 1795000600,
                "aud": "pressrag",
            },
        ),
        (
            # What the token route mints: `sub` is the visitor key (docs/contracts.md).
            "visitor subject",
            {
                "site": "demo",
                "origin": "https://example.org",
                "iat": 1795755600,
                "exp": 1795755900,
                "aud": "pressrag",
                "sub": "3f2a9c0e8b7d4a1f9e6c5b4a3d2e1f00",
            },
        ),
    ]
    return [
        {
            "name": name,
            "secret": TOKEN_SECRET,
            "header": {"alg": "HS256", "typ": "JWT"},
            "claims": claims,
            "expected_jwt": jwt_hs256(TOKEN_SECRET, claims),
        }
        for name, claims in claim_sets
    ]


def callback_cases() -> list[dict[str, Any]]:
    bodies = [
        (
            "summaries.deliver",
            {
                "type": "summaries.deliver",
                "site": "demo",
                "items": [
                    {
                        "wp_id": 123,
                        "content_hash": "9f2c1a",
                        "summary": "A short summary of the post.",
                        "generator": "extractive",
                        "model": "local:sentence-transformers/all-MiniLM-L6-v2",
                        "language": None,
                        "generated_at": "2026-11-27T05:00:00.123456+00:00",
                    }
                ],
            },
        ),
        (
            "draft.create with unicode and slashes",
            {
                "type": "draft.create",
                "site": "demo-2",
                "request_id": "drq_00000000-0000-4000-8000-000000000000",
                "draft": {
                    "title": "Café/Bar — a guide",
                    "kind": "prose",
                    "generator": "openai",
                    "model": "gpt-4o-mini",
                    "blocks": [{"type": "paragraph", "text": "Crème brûlée [1]."}],
                    "sources": [{"n": 1, "wp_id": 7, "title": "Desserts", "url": "https://x/d/"}],
                },
            },
        ),
        (
            "draft.progress",
            {
                "type": "draft.progress",
                "site": "demo",
                "request_id": "drq_00000000-0000-4000-8000-000000000000",
                "status": "running",
                "message": "Finding the most relevant posts",
            },
        ),
    ]
    cases: list[dict[str, Any]] = []
    for index, (name, payload) in enumerate(bodies):
        # The backend sends compact UTF-8 JSON (json.dumps(separators=(",", ":"),
        # ensure_ascii=False)); the plugin verifies the raw bytes as received.
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        for secret_name, secret in (("A", SECRET_A), ("B", SECRET_B)):
            msg_id = f"cb_0000000{index}-0000-4000-8000-00000000000{index}"
            timestamp = 1795755700 + index
            cases.append(
                {
                    "name": f"{name} (secret {secret_name})",
                    "secret": secret,
                    "callback_key": base64.b64encode(callback_key(secret)).decode("ascii"),
                    "id": msg_id,
                    "timestamp": timestamp,
                    "body": body,
                    "expected_signature": callback_signature(secret, msg_id, timestamp, body),
                    # The same message signed as a webhook (with the secret itself) must NOT
                    # verify as a callback: the directions never share a key.
                    "webhook_signature": webhook_signature(secret, msg_id, timestamp, body),
                }
            )
    rotated = cases[0]
    cases.append(
        {
            "name": "rotation: two secrets, both signatures in one header",
            "secrets": [SECRET_A, SECRET_B],
            "id": rotated["id"],
            "timestamp": rotated["timestamp"],
            "body": rotated["body"],
            "expected_signature": " ".join(
                callback_signature(s, rotated["id"], rotated["timestamp"], rotated["body"])
                for s in (SECRET_A, SECRET_B)
            ),
        }
    )
    return cases


def write(name: str, description: str, cases: list[dict[str, Any]]) -> None:
    document = {"description": description, "cases": cases}
    (HERE / name).write_text(
        json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def main() -> None:
    write(
        "webhook_signatures.json",
        "Standard Webhooks v1 signatures: base64(HMAC-SHA256(base64decode(secret minus 'whsec_'), "
        "id + '.' + timestamp + '.' + body)); body is the exact raw UTF-8 string that is sent.",
        webhook_cases(),
    )
    write(
        "tokens.json",
        "HS256 JWTs: base64url(no padding) of compact JSON header and claims (keys in the listed "
        "order, '/' unescaped, non-ASCII as \\uXXXX), "
        "HMAC key = base64-decoded secret minus 'whsec_'.",
        token_cases(),
    )
    write(
        "callback_signatures.json",
        "Write-back callbacks (backend → plugin), Standard Webhooks v1 with a key derived from "
        "the webhook secret: key = HMAC-SHA256(base64decode(secret minus 'whsec_'), "
        "'pressrag-callback-v1'); signature = base64(HMAC-SHA256(key, id + '.' + timestamp + "
        "'.' + body)); body is the exact raw UTF-8 string that is sent.",
        callback_cases(),
    )


if __name__ == "__main__":
    main()
