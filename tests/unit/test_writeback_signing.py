"""Write-back callbacks are signed as the shared vectors say (the PHP plugin checks the same
file), never verify as webhooks or the other way round, and the callback client tells
retryable failures from final ones. No server, no database."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from pressrag.resources.webhooks import WebhookError, signature_matches
from pressrag.resources.writeback.callbacks import (
    CallbackError,
    WordPressCallbacks,
    callback_url,
    encode,
)
from pressrag.resources.writeback.signing import callback_headers, callback_key, verify_callback

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "callback_signatures.json").read_text()
)["cases"]
SINGLE = [c for c in VECTORS if "secret" in c]


def _secrets(case: dict) -> list[str]:
    return case.get("secrets") or [case["secret"]]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_shared_vectors_are_reproduced_and_verify(case: dict) -> None:
    body = case["body"].encode("utf-8")
    headers = callback_headers(
        _secrets(case), "demo", body, msg_id=case["id"], timestamp=case["timestamp"]
    )
    assert headers["webhook-signature"] == case["expected_signature"]
    for secret in _secrets(case):  # the plugin holds one of the rotated secrets
        assert verify_callback(secret, headers, body, now=case["timestamp"] + 5) == case["id"]


@pytest.mark.parametrize("case", SINGLE, ids=[c["name"] for c in SINGLE])
def test_the_key_is_derived_and_the_directions_never_share_it(case: dict) -> None:
    assert base64.b64encode(callback_key(case["secret"])).decode() == case["callback_key"]
    body = case["body"].encode()
    as_webhook = {
        "webhook-id": case["id"],
        "webhook-timestamp": str(case["timestamp"]),
        "webhook-signature": case["webhook_signature"],
    }
    with pytest.raises(WebhookError) as refused:
        verify_callback(case["secret"], as_webhook, body, now=case["timestamp"])
    assert refused.value.status == 401
    # …and a callback's signature is no webhook signature either.
    raw_key = base64.b64decode(case["secret"].removeprefix("whsec_"))
    assert not signature_matches(
        [raw_key], case["id"], case["timestamp"], body, case["expected_signature"]
    )


@pytest.mark.parametrize("case", SINGLE[:2], ids=[c["name"] for c in SINGLE[:2]])
def test_tampering_and_stale_timestamps_are_refused(case: dict) -> None:
    body = case["body"].encode()
    headers = callback_headers(
        [case["secret"]], "demo", body, msg_id=case["id"], timestamp=case["timestamp"]
    )
    for changed_body, now in ((body + b" ", case["timestamp"]), (body, case["timestamp"] + 301)):
        with pytest.raises(WebhookError):
            verify_callback(case["secret"], headers, changed_body, now=now)


def test_every_send_is_signed_afresh() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "recorded"})

    client = _client(answer)
    message = {"type": "draft.progress", "site": "demo", "request_id": "drq_x", "status": "running"}
    client.send(message)
    client.send(message)
    ids = [r.headers["webhook-id"] for r in seen]
    assert len(set(ids)) == 2 and all(i.startswith("cb_") for i in ids)
    assert seen[0].content == encode(message)
    assert str(seen[0].url) == "https://wp.example/?rest_route=/pressrag/v1/callback"
    assert seen[0].headers["x-pressrag-site"] == "demo"


@pytest.mark.parametrize(
    ("response", "retryable", "words"),
    [
        (httpx.Response(503), True, "HTTP 503"),
        (httpx.Response(429), True, "HTTP 429"),
        (httpx.Response(401, json={"code": "pressrag_invalid_signature"}), False, "secret"),
        (httpx.Response(404, json={"code": "rest_no_route"}), False, "plugin (0.3 or later)"),
        (httpx.Response(301, headers={"location": "https://www.wp.example/"}), False, "final URL"),
        (httpx.Response(200, text="<html>cached page</html>"), False, "no JSON"),
        (httpx.Response(400, json={"code": "pressrag_invalid_body"}), False, "HTTP 400"),
    ],
)
def test_failures_say_whether_a_retry_can_help(
    response: httpx.Response, retryable: bool, words: str
) -> None:
    with pytest.raises(CallbackError) as failed:
        _client(lambda request: response).send({"type": "draft.progress"})
    assert failed.value.retryable is retryable
    assert words in str(failed.value)
    assert "whsec_" not in str(failed.value)


def test_a_network_error_is_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(CallbackError) as failed:
        _client(refuse).send({"type": "draft.progress"})
    assert failed.value.retryable


def test_the_route_works_without_pretty_permalinks() -> None:
    assert callback_url("https://wp.example/blog/") == (
        "https://wp.example/blog/?rest_route=/pressrag/v1/callback"
    )


def _client(handler) -> WordPressCallbacks:
    return WordPressCallbacks(
        site_id="demo",
        base_url="https://wp.example",
        secrets=(SINGLE[0]["secret"],),
        transport=httpx.MockTransport(handler),
    )
