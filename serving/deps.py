"""FastAPI dependencies, as `Annotated` aliases routes can declare by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pressrag.serving.auth import Principal, authenticate, authorize_site
from pressrag.serving.directory import SiteEntry
from pressrag.serving.errors import ApiError
from pressrag.serving.ratelimit import retry_after_header
from pressrag.serving.state import Components, Services

# Declares the bearer scheme in the OpenAPI schema; we check the value ourselves so every
# failure gets our JSON error (auto_error would answer 403 with FastAPI's own shape).
bearer_scheme = HTTPBearer(
    auto_error=False, description="A site's browser token (JWT) or the admin API key."
)


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_components(services: ServicesDep) -> Components:
    return services.require()


ComponentsDep = Annotated[Components, Depends(get_components)]


def get_principal(
    request: Request,
    services: ServicesDep,
    components: ComponentsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    origin: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    authorization = request.headers.get("authorization")
    client = request.client.host if request.client else "unknown"
    return authenticate(authorization, origin, client, components.directory.get, services.admin_key)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "admin_only", "this endpoint needs the admin API key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def authorize(
    services: Services, components: Components, principal: Principal, site_id: str
) -> SiteEntry:
    """The site this request may read, after the per-client and per-site rate limits (shared
    by every replica; a client over its limit does not use up its site's)."""
    entry = authorize_site(principal, site_id, components.directory.get)
    if principal.is_admin and not services.settings.rate_limit_admin:
        return entry
    limits = services.limits
    refusal = limits.acquire((limits.client, principal.client_key), (limits.site, entry.id))
    if refusal is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this {refusal.limit.name}; retry later",
            headers={"Retry-After": retry_after_header(refusal.wait)},
        )
    return entry
