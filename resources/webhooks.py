"""Standard Webhooks verification and the event shape (pure: no I/O, no framework).

The plugin signs `"{id}.{timestamp}.{raw body}"` with HMAC-SHA256 under the site's secret
and sends `webhook-signature: v1,<base64> [v1,<base64> ...]` (several during a secret
rotation). We verify over the exact raw bytes before anything parses them, compare in
constant time, and refuse timestamps more than five minutes away from our clock in either
direction (replays of old captures, and clocks so wrong their signatures are suspect).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 256 * 1024
MAX_ID_CHARS = 200
SITE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")

DOCUMENT_UPSERTED = "document.upserted"
DOCUMENT_DELETED = "document.deleted"
ATTACHMENT_ADDED = "attachment.added"
ATTACHMENT_EDITED = "attachment.edited"
ATTACHMENT_DELETED = "attachment.deleted"
TERM_CHANGED = "term.changed"
SITE_SETTINGS_CHANGED = "site.settings_changed"
SITE_REINDEX_REQUESTED = "site.reindex_requested"
SITE_GOLDEN_QUESTIONS = "site.golden_questions"
# Write-back requests (docs/writeback.md), read from the inbox by the write-back sensor.
SUMMARY_REGENERATE_REQUESTED = "summary.regenerate_requested"
DRAFT_REQUESTED = "draft.requested"
KNOWN_TYPES = frozenset(
    {
        DOCUMENT_UPSERTED,
        DOCUMENT_DELETED,
        ATTACHMENT_ADDED,
        ATTACHMENT_EDITED,
        ATTACHMENT_DELETED,
        TERM_CHANGED,
        SITE_SETTINGS_CHANGED,
        SITE_REINDEX_REQUESTED,
        SITE_GOLDEN_QUESTIONS,
        SUMMARY_REGENERATE_REQUESTED,
        DRAFT_REQUESTED,
    }
)
# The plugin's settings page enforces the same limits (PressRAG_Settings::GOLDEN_*).
MAX_GOLDEN_QUESTIONS = 200
MAX_GOLDEN_QUESTION_CHARS = 300
MAX_GOLDEN_URL_CHARS = 2000


class WebhookError(Exception):
    """A refused delivery: HTTP status, machine code, and a message safe to send back."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def sign(secret_key: bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of one message (what a sender puts in the header)."""
    digest = hmac.new(secret_key, _signed_content(msg_id, timestamp, body), hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode("ascii")


def _signed_content(msg_id: str, timestamp: int | str, body: bytes) -> bytes:
    return f"{msg_id}.{timestamp}.".encode() + body


def parse_timestamp(value: str | None, *, now: float | None = None) -> int:
    """The header's Unix seconds, checked against the tolerance window."""
    if not value or not value.strip().isdigit() or len(value.strip()) > 12:
        raise WebhookError(400, "invalid_timestamp", "webhook-timestamp must be Unix seconds")
    stamp = int(value.strip())
    current = time.time() if now is None else now
    if stamp < current - TOLERANCE_SECONDS:
        raise WebhookError(400, "stale_timestamp", "webhook-timestamp is too old")
    if stamp > current + TOLERANCE_SECONDS:
        raise WebhookError(400, "future_timestamp", "webhook-timestamp is in the future")
    return stamp


def check_event_id(msg_id: str | None) -> str:
    if not msg_id or not _EVENT_ID.match(msg_id):
        raise WebhookError(400, "invalid_id", "webhook-id is missing or malformed")
    return msg_id


def _signatures(header: str | None) -> list[bytes]:
    """The decoded `v1` signatures of the header; other versions are ignored."""
    found = []
    for part in (header or "").split():
        version, _, value = part.partition(",")
        if version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except ValueError:
            continue
    return found


def signature_matches(
    keys: list[bytes], msg_id: str, timestamp: int | str, body: bytes, header: str | None
) -> bool:
    """True when any signature in the header is valid under any of the keys.

    Every pair is compared (no early exit on the first mismatch) with `compare_digest`, so
    timing tells an attacker nothing about which byte or which key was wrong.
    """
    content = _signed_content(msg_id, timestamp, body)
    expected = [hmac.new(k, content, hashlib.sha256).digest() for k in keys]
    ok = False
    for given in _signatures(header):
        for digest in expected:
            ok |= hmac.compare_digest(given, digest)
    return ok


def verify(
    keys: list[bytes],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float | None = None,
) -> tuple[str, int]:
    """Check id, timestamp and signature; return (event id, timestamp) or raise WebhookError.

    The signature is checked before the timestamp's window, so an unsigned caller learns
    nothing about our clock; a malformed id or timestamp cannot be signed-over, so those are
    rejected first.
    """
    event_id = check_event_id(msg_id)
    if not timestamp or not timestamp.strip().isdigit():
        raise WebhookError(400, "invalid_timestamp", "webhook-timestamp must be Unix seconds")
    if not keys or not signature_matches(keys, event_id, timestamp.strip(), body, signature):
        raise WebhookError(401, "invalid_signature", "the webhook signature does not verify")
    return event_id, parse_timestamp(timestamp, now=now)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified event's body: what the inbox stores and the sensor coalesces."""

    type: str
    site: str
    occurred_at: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.type in KNOWN_TYPES

    def as_payload(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "site": self.site,
            "occurred_at": self.occurred_at,
            "data": self.data,
        }


def _bad(message: str) -> WebhookError:
    return WebhookError(400, "invalid_event", message)


def _int_field(data: dict[str, Any], name: str) -> None:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad(f"data.{name} must be a positive integer")


def _check_data(event_type: str, data: dict[str, Any]) -> None:
    """Fields the sensor relies on, per type; unknown types are stored as they are."""
    if event_type == SUMMARY_REGENERATE_REQUESTED:
        _int_field(data, "wp_id")
    elif event_type == DRAFT_REQUESTED:
        if not isinstance(data.get("request_id"), str) or not isinstance(data.get("topic"), str):
            raise _bad("data.request_id and data.topic must be strings")
    elif event_type in (DOCUMENT_UPSERTED, DOCUMENT_DELETED) or event_type.startswith(
        "attachment."
    ):
        if event_type in KNOWN_TYPES:
            _int_field(data, "wp_id")
    elif event_type == TERM_CHANGED:
        ids = data.get("wp_ids", [])
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids
        ):
            raise _bad("data.wp_ids must be a list of positive integers")
        if len(ids) > 10_000:
            raise _bad("data.wp_ids has more than 10000 ids")
    elif event_type == SITE_GOLDEN_QUESTIONS:
        _check_golden(data)


def _check_golden(data: dict[str, Any]) -> None:
    """The shape and limits of a golden-question list (its URLs' host is checked against the
    site by `golden_pairs`, which needs the site's record)."""
    _int_field(data, "revision")
    if data["revision"] >= 2**63:
        raise _bad("data.revision must fit in 64 bits")
    questions = data.get("questions")
    if not isinstance(questions, list):
        raise _bad("data.questions must be a list")
    if len(questions) > MAX_GOLDEN_QUESTIONS:
        raise _bad(f"data.questions has more than {MAX_GOLDEN_QUESTIONS} questions")
    for i, item in enumerate(questions):
        where = f"data.questions[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object with question and url")
        question, url = item.get("question"), item.get("url")
        if not isinstance(question, str) or not question.split():
            raise _bad(f"{where}.question must be a non-empty string")
        if len(" ".join(question.split())) > MAX_GOLDEN_QUESTION_CHARS:
            raise _bad(f"{where}.question is longer than {MAX_GOLDEN_QUESTION_CHARS} characters")
        if not isinstance(url, str) or len(url) > MAX_GOLDEN_URL_CHARS:
            raise _bad(f"{where}.url must be a URL of at most {MAX_GOLDEN_URL_CHARS} characters")


def _host(url: str) -> tuple[str, int | None] | None:
    """(host, explicit port) of an absolute http(s) URL, or None. The scheme is not compared:
    a site moving to https keeps its questions."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return parts.hostname.lower(), port


def golden_pairs(event: WebhookEvent, site_base_url: str) -> list[tuple[str, str]]:
    """(question, url) pairs of a checked `site.golden_questions` event, every URL on the
    site's own host, or WebhookError(400) naming the first URL that is not."""
    site_host = _host(site_base_url)
    pairs = []
    for i, item in enumerate(event.data["questions"]):
        if site_host is None or _host(item["url"]) != site_host:
            raise _bad(f"data.questions[{i}].url must be an http(s) URL on the site's own host")
        pairs.append((" ".join(item["question"].split()), item["url"].strip()))
    return pairs


def parse_event(body: bytes) -> WebhookEvent:
    """The event of a verified body, or WebhookError(400) for malformed JSON or fields."""
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _bad("the body is not valid UTF-8 JSON") from None
    if not isinstance(parsed, dict):
        raise _bad("the body must be a JSON object")
    event_type, site, data = parsed.get("type"), parsed.get("site"), parsed.get("data", {})
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise _bad("type must be a non-empty string")
    if not isinstance(site, str) or not SITE_ID.match(site):
        raise _bad("site must be a site id")
    if not isinstance(data, dict):
        raise _bad("data must be an object")
    occurred_at = parsed.get("occurred_at")
    if occurred_at is not None and not isinstance(occurred_at, str):
        raise _bad("occurred_at must be a string")
    _check_data(event_type, data)
    return WebhookEvent(type=event_type, site=site, occurred_at=occurred_at, data=data)
