"""`POST /v1/webhooks/wordpress`: verify a signed event and store it in the inbox. Nothing else.

Order matters: the size is capped before the body is read in full, the signature is checked
over the raw bytes before anything parses them, and the answer (202 new, 200 duplicate) is
sent only after the insert has committed — an acknowledged event is durable (invariant 4).
Indexing happens later, when the Dagster sensor picks the event up. The one exception is
`site.golden_questions`: see `_store`.

A signed body can still hold what PostgreSQL cannot store (NUL, a lone surrogate, NaN or
Infinity, nesting deeper than the JSON parser goes): that is a 400 naming the field, never
a 500 — the plugin retries 5xx, and a retry could never succeed.
"""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pressrag.resources.store import inbox, quality
from pressrag.resources.store.text import is_storable
from pressrag.resources.webhooks import (
    MAX_BODY_BYTES,
    SITE_GOLDEN_QUESTIONS,
    SITE_ID,
    WebhookError,
    WebhookEvent,
    golden_pairs,
    parse_event,
    verify,
)
from pressrag.serving.deps import ComponentsDep
from pressrag.serving.errors import error_response, error_responses
from pressrag.serving.state import Components

log = logging.getLogger("serving.webhooks")

WEBHOOK_PATH = "/v1/webhooks/wordpress"
WEBHOOK_BODY_LIMITS = {WEBHOOK_PATH: MAX_BODY_BYTES}

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


async def _read_capped(request: Request) -> bytes:
    """The raw body, refused with 413 as soon as it passes the cap (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise WebhookError(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise WebhookError(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    return bytes(body)


MAX_FIELD_NAME_CHARS = 200


def unstorable_field(payload: dict) -> str | None:
    """What is wrong with the first value of `payload` the inbox cannot store, naming its
    field (`data.title`, `data.wp_ids[2]`), or None. Iterative: nesting is only bounded by
    the JSON parser's own depth limit."""
    stack: list[tuple[str, object]] = [("", payload)]
    while stack:
        path, value = stack.pop()
        where = path[:MAX_FIELD_NAME_CHARS] or "the body"
        if isinstance(value, str) and not is_storable(value):
            return f"{where} contains a NUL character or an unpaired surrogate"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{where} is not a finite number"
        if isinstance(value, dict):
            for key, item in value.items():
                if not is_storable(key):
                    return f"a key of {where} contains a NUL character or an unpaired surrogate"
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
    return None


def _parse(body: bytes) -> WebhookEvent:
    try:
        event = parse_event(body)
    except RecursionError:
        raise WebhookError(400, "invalid_event", "the body is nested too deeply") from None
    problem = unstorable_field(event.as_payload())
    if problem:
        raise WebhookError(400, "invalid_event", problem)
    return event


def _store(
    components: Components,
    event_id: str,
    event: WebhookEvent,
    golden: list[tuple[str, str]] | None,
) -> bool:
    """Record the event; golden questions (`golden` not None) are applied right here.

    They are configuration, not content: nothing to fetch or embed, so no run is needed, and
    the site owner sees them in `pressrag golden list` as soon as the save is acknowledged.
    Recording the event (as processed) and replacing the list share one transaction, so a
    redelivery of the same event id is a duplicate that changes nothing, and an acknowledged
    list is never lost.
    """
    with components.store.connection() as conn:
        new = inbox.insert_event(
            conn,
            event_id=event_id,
            site_id=event.site,
            event_type=event.type,
            payload=event.as_payload(),
            processed=golden is not None,
        )
        if new and golden is not None:
            revision = event.data["revision"]
            if not quality.replace_plugin_golden(conn, event.site, golden, revision=revision):
                log.info("site %s: golden questions of revision %s are stale", event.site, revision)
        return new


def _accept(components: Components, headers: dict[str, str | None], body: bytes) -> JSONResponse:
    """Runs in a worker thread: secret look-up, verification, parsing and the insert."""
    site_id = headers["site"]
    if not site_id or not SITE_ID.match(site_id):
        raise WebhookError(400, "invalid_site", "X-PressRAG-Site must name a site")
    # An unknown site gets the same answer as a bad signature: no site enumeration.
    event_id, _ = verify(
        components.directory.webhook_keys(components.directory.get(site_id)),
        msg_id=headers["id"],
        timestamp=headers["timestamp"],
        signature=headers["signature"],
        body=body,
    )
    event = _parse(body)
    if event.site != site_id:
        raise WebhookError(400, "site_mismatch", "the body's site differs from X-PressRAG-Site")
    golden = None
    if event.type == SITE_GOLDEN_QUESTIONS:
        entry = components.directory.get(site_id)
        golden = golden_pairs(event, entry.site.base_url if entry else "")
    if _store(components, event_id, event, golden):
        if not event.known:
            log.warning("stored event %s of unknown type %r", event_id, event.type[:100])
        return JSONResponse({"status": "accepted", "event_id": event_id}, status_code=202)
    return JSONResponse({"status": "duplicate", "event_id": event_id}, status_code=200)


@router.post(
    "/wordpress",
    status_code=202,
    responses={
        200: {"description": "duplicate event id; nothing new stored"},
        202: {"description": "stored in the inbox"},
        **error_responses(400, 401, 413, 503),
    },
    summary="Signed WordPress event (Standard Webhooks) into the inbox",
)
async def wordpress_webhook(request: Request, components: ComponentsDep) -> JSONResponse:
    headers = {
        "site": request.headers.get("x-pressrag-site"),
        "id": request.headers.get("webhook-id"),
        "timestamp": request.headers.get("webhook-timestamp"),
        "signature": request.headers.get("webhook-signature"),
    }
    try:
        body = await _read_capped(request)
        return await run_in_threadpool(_accept, components, headers, body)
    except WebhookError as exc:
        return error_response(exc.status, exc.code, exc.message)
