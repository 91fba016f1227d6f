"""`POST /v1/sites/{site}/connection-test`: prove each of the plugin's credentials, by name.

The plugin's "Test connection" sends one request carrying all three: the body is signed with
the **webhook secret** (the Standard Webhooks headers the webhook route checks), the body holds
a browser token minted with the **token secret**, and `Authorization` carries the **admin API
key**. Each is checked with the functions the real routes use (`resources.webhooks.verify`,
`serving.auth.verify_token` / `is_admin_key`), independently of the others, so a wrong one is
named instead of hiding behind the first failure. Nothing is stored.

The answer is signed with the site's webhook secrets (the same scheme, in the other
direction), so the plugin also learns that it reached the backend holding its secret: a round
trip, not a ping. An unknown site fails exactly like wrong secrets (no enumeration), except
for a caller with the admin key, who gets 404 as on the status route.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError

from pressrag.resources.gateway.keys import ApiKey, looks_like_key
from pressrag.resources.webhooks import WebhookError, sign, verify
from pressrag.serving.auth import bearer_token, is_admin_key, verify_token
from pressrag.serving.deps import ServicesDep
from pressrag.serving.directory import SiteEntry, normalize_origin
from pressrag.serving.errors import ApiError, error_responses
from pressrag.serving.ratelimit import retry_after_header
from pressrag.serving.schemas import SITE_PATTERN
from pressrag.serving.state import Services

router = APIRouter(prefix="/v1/sites", tags=["sites"])

MAX_TOKEN_CHARS = 4096


class ConnectionTestRequest(BaseModel):
    token: str = Field(max_length=MAX_TOKEN_CHARS, description="A browser token just minted.")


class CredentialCheck(BaseModel):
    ok: bool
    code: str = Field(description="`ok`, or why it failed (`invalid_signature`, `missing`, …).")
    message: str


class ConnectionReport(BaseModel):
    site: str
    ok: bool = Field(description="All three credentials work.")
    webhook_secret: CredentialCheck
    token_secret: CredentialCheck
    admin_api_key: CredentialCheck


OK = CredentialCheck(ok=True, code="ok", message="accepted")


def _failed(code: str, message: str) -> CredentialCheck:
    return CredentialCheck(ok=False, code=code, message=message)


def check_webhook_signature(
    keys: list[bytes], headers: dict[str, str | None], body: bytes
) -> CredentialCheck:
    try:
        verify(
            keys,
            msg_id=headers["id"],
            timestamp=headers["timestamp"],
            signature=headers["signature"],
            body=body,
        )
    except WebhookError as exc:
        return _failed(exc.code, exc.message)
    return OK


def check_token(token: str, site_id: str, entry: SiteEntry | None) -> CredentialCheck:
    if not token:
        return _failed("missing", "no browser token was sent")
    if entry is None or not entry.token_keys:
        return _failed("invalid_token", "the token signature is not valid")
    try:
        claims = verify_token(token, entry.token_keys)
    except ApiError as exc:
        return _failed(exc.code, str(exc.detail))
    if claims["site"] != site_id:
        return _failed("wrong_site", "the token was issued for another site id")
    origin = normalize_origin(claims["origin"])
    if origin not in entry.origins:
        return _failed(
            "origin_not_allowed",
            f"the site's origin {origin[:200]} is not registered for this site on the backend, "
            "so browsers on it cannot ask questions",
        )
    return OK


def check_admin_key(
    authorization: str | None,
    admin_key: str | None,
    site_id: str,
    lookup_key: Callable[[str], ApiKey | None],
) -> CredentialCheck:
    """The site's admin API key (or the operator key) works for this site."""
    if not authorization:
        return _failed("missing", "no admin API key was sent")
    try:
        token = bearer_token(authorization)
    except ApiError as exc:
        return _failed(exc.code, str(exc.detail))
    if is_admin_key(token, admin_key):
        return OK
    key = lookup_key(token) if looks_like_key(token) else None
    if key is None or key.site_id != site_id:
        return _failed(
            "invalid",
            "the backend does not accept this admin API key for this site (create one with "
            f"`pressrag keys create --site {site_id} --scope admin`)",
        )
    if "admin" not in key.scopes:
        return _failed("insufficient_scope", "this API key lacks the admin scope")
    return OK


def signed_report(report: ConnectionReport, keys: list[bytes]) -> Response:
    """The report as JSON, signed like a webhook with every one of the site's secrets."""
    body = json.dumps(report.model_dump(), separators=(",", ":")).encode()
    headers = {}
    if keys:
        msg_id, stamp = f"msg_conn_{uuid.uuid4().hex}", int(time.time())
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": " ".join(sign(key, msg_id, stamp, body) for key in keys),
        }
    return Response(body, media_type="application/json", headers=headers)


def _limit(services: Services, client: str) -> None:
    """The per-client bucket of browser calls: this route needs no credential to reach."""
    limits = services.limits
    refusal = limits.acquire((limits.client, f"ip:{client}"))
    if refusal is not None:
        raise ApiError(
            429,
            "rate_limited",
            "too many connection tests; retry later",
            headers={"Retry-After": retry_after_header(refusal.wait)},
        )


def _parse(body: bytes) -> ConnectionTestRequest:
    try:
        return ConnectionTestRequest.model_validate_json(body or b"{}")
    except ValidationError:
        raise ApiError(422, "invalid_request", "the body must be JSON {token: string}") from None


def _report(services: Services, site: str, headers: dict[str, str | None], body: bytes) -> Response:
    """Runs in a worker thread: site look-up (database), HMACs, JWT."""
    components = services.require()
    entry = components.directory.get(site)
    admin = check_admin_key(
        headers["authorization"], services.admin_key, site, components.directory.api_key
    )
    if admin.ok and entry is None:
        raise ApiError(404, "unknown_site", f"no site {site!r}")
    keys = components.directory.webhook_keys(entry)
    webhook = check_webhook_signature(keys, headers, body)
    token = check_token(_parse(body).token, site, entry)
    report = ConnectionReport(
        site=site,
        ok=webhook.ok and token.ok and admin.ok,
        webhook_secret=webhook,
        token_secret=token,
        admin_api_key=admin,
    )
    return signed_report(report, keys)


@router.post(
    "/{site}/connection-test",
    response_model=ConnectionReport,
    responses={
        200: {
            "description": "Each credential's verdict; signed with the site's webhook secrets "
            "(`webhook-id`, `webhook-timestamp`, `webhook-signature`) when the site exists."
        },
        **error_responses(404, 413, 422, 429, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ConnectionTestRequest.model_json_schema()}},
        }
    },
    summary="Check the plugin's webhook secret, token secret and admin key, each by name",
)
async def connection_test(
    site: Annotated[str, Path(pattern=SITE_PATTERN)], request: Request, services: ServicesDep
) -> Response:
    # In a worker thread: the limits are counted in the database.
    await run_in_threadpool(_limit, services, request.client.host if request.client else "unknown")
    headers = {
        "id": request.headers.get("webhook-id"),
        "timestamp": request.headers.get("webhook-timestamp"),
        "signature": request.headers.get("webhook-signature"),
        "authorization": request.headers.get("authorization"),
    }
    body = await request.body()
    return await run_in_threadpool(_report, services, site, headers, body)
