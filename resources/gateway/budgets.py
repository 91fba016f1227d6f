"""Budgets and quotas per site, and where each one stands.

A site's budgets live in its settings (`sites.settings.budgets`, set with `pressrag budget`):
requests per minute (the site's bucket in the shared rate limiter, serving/ratelimit.py), requests
per calendar day, tokens and cost per calendar month, in UTC (these three from the ledger's
running totals, `usage_requests` and `usage_counters`). Every limit is optional. At `warn_at`
(default 80 %) of any of them the site is in *warning*, shown by `pressrag status` and the
status API; at 100 % *exhausted*: requests get a 429 naming the budget, and an indexing run that
would pass the monthly tokens or cost fails before it spends anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg

from pressrag.resources.errors import ConfigError

DEFAULT_WARN_AT = 0.8


@dataclass(frozen=True)
class Budgets:
    requests_per_minute: float | None = None
    requests_per_day: int | None = None
    tokens_per_month: int | None = None
    cost_per_month_usd: float | None = None
    warn_at: float = DEFAULT_WARN_AT

    @classmethod
    def of(cls, site_settings: dict) -> Budgets:
        raw = site_settings.get("budgets") or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known and v is not None})

    def as_settings(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def changed(self, **changes: float | None) -> Budgets:
        """A copy with `changes` applied (None removes a limit), validated."""
        values = {**asdict(self), **changes}
        for name, value in values.items():
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive (or cleared)")
        if not 0 < values["warn_at"] <= 1:
            raise ConfigError("warn_at must be a share between 0 and 1, e.g. 0.8")
        if values["requests_per_day"] is not None:
            values["requests_per_day"] = int(values["requests_per_day"])
        if values["tokens_per_month"] is not None:
            values["tokens_per_month"] = int(values["tokens_per_month"])
        return Budgets(**values)


@dataclass(frozen=True)
class Usage:
    """What a site used this month (UTC) and today, from the ledger's running totals."""

    month_start: date
    requests_month: int
    requests_today: int
    tokens: int
    cost_usd: Decimal


@dataclass(frozen=True)
class BudgetLine:
    name: str
    limit: float
    used: float
    share: float
    state: str  # "ok" | "warning" | "exhausted"
    resets_at: datetime

    def as_json(self) -> dict:
        return {**asdict(self), "resets_at": self.resets_at.isoformat()}


def month_start(now: datetime) -> date:
    return now.astimezone(UTC).date().replace(day=1)


def next_month(now: datetime) -> datetime:
    first = month_start(now)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime(following.year, following.month, 1, tzinfo=UTC)


def next_day(now: datetime) -> datetime:
    today = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


def read_usage(conn: psycopg.Connection, site_id: str, now: datetime) -> Usage:
    first = month_start(now)
    today = now.astimezone(UTC).date()
    tokens, cost = conn.execute(
        "SELECT coalesce(sum(input_tokens + output_tokens), 0), coalesce(sum(cost_usd), 0) "
        "FROM usage_counters WHERE site_id = %s AND day >= %s",
        (site_id, first),
    ).fetchone()
    month, day = conn.execute(
        "SELECT coalesce(sum(requests), 0), coalesce(sum(requests) FILTER (WHERE day = %s), 0) "
        "FROM usage_requests WHERE site_id = %s AND day >= %s",
        (today, site_id, first),
    ).fetchone()
    return Usage(first, int(month), int(day), int(tokens), Decimal(cost))


def budget_lines(budgets: Budgets, usage: Usage, now: datetime) -> list[BudgetLine]:
    """Each configured limit with its use, share and state (requests per minute has no
    meaningful "use so far" and is left to the rate limiter)."""
    measured = (
        ("requests_per_day", budgets.requests_per_day, usage.requests_today, next_day(now)),
        ("tokens_per_month", budgets.tokens_per_month, usage.tokens, next_month(now)),
        ("cost_per_month_usd", budgets.cost_per_month_usd, usage.cost_usd, next_month(now)),
    )
    lines = []
    for name, limit, used, resets in measured:
        if limit is None:
            continue
        share = float(used) / float(limit)
        state = "exhausted" if share >= 1 else "warning" if share >= budgets.warn_at else "ok"
        lines.append(BudgetLine(name, float(limit), float(used), round(share, 4), state, resets))
    return lines


def exhausted(lines: list[BudgetLine]) -> BudgetLine | None:
    """The first budget that is used up, if any."""
    return next((line for line in lines if line.state == "exhausted"), None)


def overall_state(lines: list[BudgetLine]) -> str:
    states = {line.state for line in lines}
    return "exhausted" if "exhausted" in states else "warning" if "warning" in states else "ok"


def indexing_overrun(budgets: Budgets, usage: Usage, tokens: int, cost_usd: Decimal) -> str | None:
    """Why embedding `tokens` (costing `cost_usd`) would pass a monthly budget, or None."""
    if budgets.tokens_per_month is not None and usage.tokens + tokens > budgets.tokens_per_month:
        return (
            f"embedding {tokens:,} tokens would pass the site's tokens_per_month budget "
            f"({usage.tokens:,} of {budgets.tokens_per_month:,} used this month)"
        )
    limit = budgets.cost_per_month_usd
    if limit is not None and usage.cost_usd + cost_usd > Decimal(str(limit)):
        return (
            f"embedding {tokens:,} tokens (${cost_usd:.4f}) would pass the site's "
            f"cost_per_month_usd budget (${usage.cost_usd:.4f} of ${limit:.2f} used this month)"
        )
    return None


def save_budgets(conn: psycopg.Connection, site_id: str, budgets: Budgets) -> None:
    updated = conn.execute(
        "UPDATE sites SET settings = jsonb_set(settings, '{budgets}', %s::jsonb) WHERE id = %s",
        (json.dumps(budgets.as_settings()), site_id),
    )
    if updated.rowcount == 0:
        raise ConfigError(f"no site {site_id!r}")
