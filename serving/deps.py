"""FastAPI dependencies, as `Annotated` aliases routes can declare by type."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from pressrag.resources.gateway.budgets import Budgets
from pressrag.serving.auth import Principal, authenticate, authorize_site
from pressrag.serving.directory import SiteEntry
from pressrag.serving.errors import ApiError
from pressrag.serving.ratelimit import retry_after_header
from pressrag.serving.state import Components, Services

# Declares the bearer scheme in the OpenAPI schema; we check the value ourselves so every
# failure gets our JSON error (auto_error would answer 403 with FastAPI's own shape).
bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A site's browser token (JWT), a site API key (prk_…), or the operator key.",
)


# The two below are coroutines: FastAPI runs a plain function dependency in a worker thread,
# ~0.1 ms of CPU a hop, for what is an attribute read once serving is ready.
async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_components(services: ServicesDep) -> Components:
    """The components; while start-up runs, waiting for them happens in a worker thread."""
    if services.ready.is_set() and services.components is not None:
        return services.components
    return await run_in_threadpool(services.require)


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
    directory = components.directory
    return authenticate(
        authorization, origin, client, directory.get, services.admin_key, directory.api_key
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def authorize_admin(components: Components, principal: Principal, site_id: str) -> SiteEntry:
    """The site of an admin route: the operator key, or an admin key of that very site."""
    return authorize_site(principal, site_id, components.directory.get, "admin")


def authorize(
    services: Services,
    components: Components,
    principal: Principal,
    site_id: str,
    *,
    scope: str = "search",
    count: bool = True,
) -> SiteEntry:
    """The site this request may use for `scope`, after the per-client and per-site rate
    limits (shared by every replica; a client over its limit does not use up its site's) and
    the site's budgets. The request is counted in the ledger as served (unless `count`: the
    route counts it itself), or as refused when a limit says no."""
    entry = authorize_site(principal, site_id, components.directory.get, scope)
    ledger = components.ledger
    if principal.is_admin and not services.settings.rate_limit_admin:
        if count:
            ledger.count_request(entry.id, scope)
        return entry
    limits = services.limits
    site_limit = limits.for_site(Budgets.of(entry.site.settings).requests_per_minute)
    if principal.kind == "site_key":  # a server integration, not a visitor: its site's bucket
        refusal = limits.acquire((site_limit, entry.id))
    else:
        refusal = limits.acquire((limits.client, principal.client_key), (site_limit, entry.id))
    if refusal is not None:
        ledger.count_request(entry.id, scope, refused=True)
        raise ApiError(
            429,
            "rate_limited",
            f"too many requests for this {refusal.limit.name}; retry later",
            headers={"Retry-After": retry_after_header(refusal.wait)},
        )
    try:
        components.budgets.check(entry)
    except ApiError:
        ledger.count_request(entry.id, scope, refused=True)
        raise
    if count:
        ledger.count_request(entry.id, scope)
    return entry
