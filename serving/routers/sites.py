"""`GET /v1/sites/{site}/status` (admin key): what is indexed and what failed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from pressrag.resources.store.status import site_status
from pressrag.serving.deps import AdminDep, ComponentsDep
from pressrag.serving.errors import ApiError, error_responses
from pressrag.serving.schemas import SITE_PATTERN, SiteStatus

router = APIRouter(prefix="/v1/sites", tags=["sites"])


@router.get(
    "/{site}/status",
    response_model=SiteStatus,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Index status of one site",
)
def status(
    site: Annotated[str, Path(pattern=SITE_PATTERN)],
    admin: AdminDep,
    components: ComponentsDep,
) -> SiteStatus:
    if components.directory.get(site) is None:
        raise ApiError(404, "unknown_site", f"no site {site!r}")
    with components.store.connection() as conn:
        return SiteStatus(**site_status(conn, site))
