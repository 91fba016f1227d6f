"""Standard Webhooks verification against the shared vectors (the PHP plugin uses the same
file), the tolerance window, and event parsing. Pure functions: no server, no database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pressrag.resources.secrets import secret_bytes
from pressrag.resources.webhooks import (
    TOLERANCE_SECONDS,
    WebhookError,
    parse_event,
    sign,
    signature_matches,
    verify,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "webhook_signatures.json").read_text()
)["cases"]


def _secrets(case: dict) -> list[str]:
    return case.get("secrets") or [case["secret"]]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_shared_vectors_verify(case: dict) -> None:
    """Each shared vector: our signer reproduces it and our verifier accepts it."""
    keys = [secret_bytes(s) for s in _secrets(case)]
    body = case["body"].encode("utf-8")
    expected = " ".join(sign(k, case["id"], case["timestamp"], body) for k in keys)
    assert expected == case["expected_signature"]
    event_id, stamp = verify(
        keys,
        msg_id=case["id"],
        timestamp=str(case["timestamp"]),
        signature=case["expected_signature"],
        body=body,
        now=case["timestamp"] + 10,
    )
    assert (event_id, stamp) == (case["id"], case["timestamp"])


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_tampering_fails(case: dict) -> None:
    """A changed body, id or timestamp, or the wrong key, never verifies."""
    keys = [secret_bytes(s) for s in _secrets(case)]
    body = case["body"].encode("utf-8")
    sig, stamp = case["expected_signature"], case["timestamp"]
    assert not signature_matches(keys, case["id"], stamp, body + b" ", sig)
    assert not signature_matches(keys, case["id"] + "x", stamp, body, sig)
    assert not signature_matches(keys, case["id"], stamp + 1, body, sig)
    assert not signature_matches(
        [b"another key of 32 bytes........."], case["id"], stamp, body, sig
    )


def test_rotation_accepts_either_key_and_ignores_other_versions() -> None:
    old, new = b"o" * 32, b"n" * 32
    body = b'{"type":"x","site":"demo","data":{}}'
    header = f"v2,abc {sign(new, 'msg_1', 100, body)} v1,not-base64!"
    assert signature_matches([old, new], "msg_1", 100, body, header)
    assert not signature_matches([old], "msg_1", 100, body, header)
    assert not signature_matches([old, new], "msg_1", 100, body, None)


@pytest.mark.parametrize(
    ("offset", "code"),
    [(-TOLERANCE_SECONDS - 1, "stale_timestamp"), (TOLERANCE_SECONDS + 1, "future_timestamp")],
)
def test_timestamp_outside_tolerance_is_refused(offset: int, code: str) -> None:
    """Both directions of the 5-minute window, one second past the edge."""
    key, now, body = b"k" * 32, 1_800_000_000, b"{}"
    stamp = now + offset
    with pytest.raises(WebhookError) as caught:
        verify(
            [key],
            msg_id="msg_1",
            timestamp=str(stamp),
            signature=sign(key, "msg_1", stamp, body),
            body=body,
            now=now,
        )
    assert caught.value.code == code and 400 <= caught.value.status < 500


def test_edge_of_window_is_accepted() -> None:
    key, now, body = b"k" * 32, 1_800_000_000, b"{}"
    for stamp in (now - TOLERANCE_SECONDS, now + TOLERANCE_SECONDS):
        signature = sign(key, "msg_1", stamp, body)
        verify([key], msg_id="msg_1", timestamp=str(stamp), signature=signature, body=body, now=now)


@pytest.mark.parametrize(
    ("msg_id", "timestamp", "code"),
    [
        (None, "100", "invalid_id"),
        ("has space", "100", "invalid_id"),
        ("msg_1", None, "invalid_timestamp"),
        ("msg_1", "-5", "invalid_timestamp"),
        ("msg_1", "1e9", "invalid_timestamp"),
    ],
)
def test_malformed_headers(msg_id: str | None, timestamp: str | None, code: str) -> None:
    """Missing or malformed id/timestamp headers are 400s, before any signature work."""
    with pytest.raises(WebhookError) as caught:
        verify([b"k"], msg_id=msg_id, timestamp=timestamp, signature="v1,AAAA", body=b"{}")
    assert caught.value.code == code


def test_no_keys_means_unauthorized() -> None:
    """An unknown site (no keys) fails like a bad signature: no enumeration."""
    with pytest.raises(WebhookError) as caught:
        verify([], msg_id="msg_1", timestamp="100", signature="v1,AAAA", body=b"{}", now=100)
    assert caught.value.status == 401


def test_parse_event_accepts_contract_shapes_and_unknown_types() -> None:
    for case in VECTORS:
        event = parse_event(case["body"].encode())
        assert event.known and event.site in ("demo", "demo-2")
    unknown = parse_event(b'{"type":"comment.posted","site":"demo","data":{"x":1}}')
    assert not unknown.known and unknown.data == {"x": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"type": "", "site": "demo"}',
        b'{"type": "document.upserted", "site": "Not A Site", "data": {"wp_id": 1}}',
        b'{"type": "document.upserted", "site": "demo", "data": {"wp_id": "1"}}',
        b'{"type": "document.deleted", "site": "demo", "data": {}}',
        b'{"type": "term.changed", "site": "demo", "data": {"wp_ids": [1, true]}}',
        b'{"type": "document.upserted", "site": "demo", "data": []}',
    ],
)
def test_parse_event_rejects_malformed(body: bytes) -> None:
    """Each malformed body or field is a 400 with a message, never an exception leak."""
    with pytest.raises(WebhookError) as caught:
        parse_event(body)
    assert caught.value.status == 400 and caught.value.message
