"""A site's admin routes (the operator key, or an admin API key of that very site):

- `GET /v1/sites/{site}/status`: what is indexed and what failed, and the budget state;
- `GET /v1/sites/{site}/usage`: requests, model calls, tokens and cost per day, from the ledger;
- `POST /v1/sites/{site}/reindex`: queue a full reconcile (the event the plugin's button sends).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from pressrag.resources.gateway.reports import usage_by_day, usage_by_model
from pressrag.resources.store import inbox
from pressrag.resources.store.status import site_status
from pressrag.resources.webhooks import SITE_REINDEX_REQUESTED
from pressrag.serving.deps import ComponentsDep, PrincipalDep, authorize_admin
from pressrag.serving.errors import error_responses
from pressrag.serving.schemas import SITE_PATTERN, SiteStatus

router = APIRouter(prefix="/v1/sites", tags=["sites"])
SiteId = Annotated[str, Path(pattern=SITE_PATTERN)]


class BudgetState(BaseModel):
    state: Literal["ok", "warning", "exhausted"] = Field(
        description="The worst of the lines: `warning` from `warn_at` (default 80 %) of a limit."
    )
    budgets: dict = Field(description="The site's configured limits (`pressrag budget`).")
    lines: list[dict] = Field(
        description="Each measured limit: {name, limit, used, share, state, resets_at}."
    )


class SiteStatusWithBudget(SiteStatus):
    budget: BudgetState


class SiteUsage(BaseModel):
    site: str
    since: date
    until: date
    requests: int = Field(description="Search and ask requests served (cache hits included).")
    cache_hits: int
    refused: int = Field(description="Requests refused by a rate limit or a budget.")
    calls: int = Field(description="Model calls (failed attempts included).")
    tokens: int
    cost_usd: float
    unpriced_calls: int = Field(description="Calls to paid models missing from the price table.")
    days: list[dict] = Field(description="One entry per day with any use, oldest first.")
    models: list[dict] = Field(description="Per purpose, provider and model.")
    budget: BudgetState


class Reindex(BaseModel):
    site: str
    event_id: str
    status: Literal["queued"]


@router.get(
    "/{site}/status",
    response_model=SiteStatusWithBudget,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Index status and budget state of one site",
)
def status(
    site: SiteId, principal: PrincipalDep, components: ComponentsDep
) -> SiteStatusWithBudget:
    entry = authorize_admin(components, principal, site)
    with components.store.connection() as conn:
        report = site_status(conn, entry.id)
    return SiteStatusWithBudget(**report, budget=BudgetState(**components.budgets.state(entry)))


@router.get(
    "/{site}/usage",
    response_model=SiteUsage,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Requests, model calls, tokens and cost of one site, per day",
)
def usage(
    site: SiteId,
    principal: PrincipalDep,
    components: ComponentsDep,
    since: Annotated[date | None, Query(description="First day (UTC); default: the 1st")] = None,
    until: Annotated[date | None, Query(description="Last day (UTC); default: today")] = None,
) -> SiteUsage:
    entry = authorize_admin(components, principal, site)
    today = datetime.now(UTC).date()
    until = until or today
    # At most a year back from `until` (a later `since` than `until` finds nothing).
    earliest = until - timedelta(days=366) if until > date.min + timedelta(days=366) else date.min
    since = max(since or today.replace(day=1), earliest)
    with components.store.connection() as conn:
        days = usage_by_day(conn, entry.id, since, until)
        models = usage_by_model(conn, entry.id, since, until)
    return SiteUsage(
        site=entry.id,
        since=since,
        until=until,
        requests=sum(d.requests for d in days),
        cache_hits=sum(d.cache_hits for d in days),
        refused=sum(d.refused for d in days),
        calls=sum(d.calls for d in days),
        tokens=sum(d.tokens for d in days),
        cost_usd=float(sum(d.cost_usd for d in days)),
        unpriced_calls=sum(d.unpriced for d in days),
        days=[d.as_json() for d in days],
        models=[m.as_json() for m in models],
        budget=BudgetState(**components.budgets.state(entry)),
    )


@router.post(
    "/{site}/reindex",
    response_model=Reindex,
    status_code=202,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Queue a full reindex of one site",
)
def reindex(site: SiteId, principal: PrincipalDep, components: ComponentsDep) -> Reindex:
    entry = authorize_admin(components, principal, site)
    event_id = f"api_reindex_{uuid.uuid4().hex}"
    with components.store.connection() as conn:
        inbox.insert_event(
            conn,
            event_id=event_id,
            site_id=entry.id,
            event_type=SITE_REINDEX_REQUESTED,
            payload={
                "type": SITE_REINDEX_REQUESTED,
                "site": entry.id,
                "occurred_at": datetime.now(UTC).isoformat(),
                "data": {"source": "api"},
            },
        )
    return Reindex(site=entry.id, event_id=event_id, status="queued")
