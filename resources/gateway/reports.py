"""What the ledger says: usage per site and day, per model, and the nightly rollup."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal

import psycopg


@dataclass(frozen=True)
class DayUsage:
    site_id: str
    day: date
    requests: int
    cache_hits: int
    refused: int
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    unpriced: int

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def as_json(self) -> dict:
        return {
            **asdict(self),
            "day": self.day.isoformat(),
            "cost_usd": float(self.cost_usd),
            "tokens": self.tokens,
        }


@dataclass(frozen=True)
class ModelUsage:
    purpose: str
    provider: str
    model: str
    calls: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    unpriced: int

    def as_json(self) -> dict:
        return {**asdict(self), "cost_usd": float(self.cost_usd)}


_BY_DAY = """
WITH calls AS (
    SELECT site_id, day, sum(calls) AS calls, sum(errors) AS errors,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd, sum(unpriced) AS unpriced
    FROM usage_counters
    WHERE (%(site)s::text IS NULL OR site_id = %(site)s) AND day BETWEEN %(since)s AND %(until)s
    GROUP BY site_id, day
), requests AS (
    SELECT site_id, day, sum(requests) AS requests, sum(cache_hits) AS cache_hits,
           sum(refused) AS refused
    FROM usage_requests
    WHERE (%(site)s::text IS NULL OR site_id = %(site)s) AND day BETWEEN %(since)s AND %(until)s
    GROUP BY site_id, day
)
SELECT coalesce(c.site_id, r.site_id), coalesce(c.day, r.day),
       coalesce(r.requests, 0), coalesce(r.cache_hits, 0), coalesce(r.refused, 0),
       coalesce(c.calls, 0), coalesce(c.errors, 0), coalesce(c.input_tokens, 0),
       coalesce(c.output_tokens, 0), coalesce(c.cost_usd, 0), coalesce(c.unpriced, 0)
FROM calls c FULL JOIN requests r ON r.site_id = c.site_id AND r.day = c.day
ORDER BY 1, 2
"""


def usage_by_day(
    conn: psycopg.Connection, site_id: str | None, since: date, until: date
) -> list[DayUsage]:
    rows = conn.execute(_BY_DAY, {"site": site_id, "since": since, "until": until}).fetchall()
    return [DayUsage(r[0], r[1], *map(int, r[2:9]), Decimal(r[9]), int(r[10])) for r in rows]


def usage_by_model(
    conn: psycopg.Connection, site_id: str | None, since: date, until: date
) -> list[ModelUsage]:
    rows = conn.execute(
        "SELECT purpose, provider, model, sum(calls), sum(errors), sum(input_tokens), "
        "sum(output_tokens), sum(cost_usd), sum(unpriced) FROM usage_counters "
        "WHERE (%(site)s::text IS NULL OR site_id = %(site)s) "
        "AND day BETWEEN %(since)s AND %(until)s "
        "GROUP BY purpose, provider, model ORDER BY sum(cost_usd) DESC, sum(calls) DESC",
        {"site": site_id, "since": since, "until": until},
    ).fetchall()
    return [ModelUsage(r[0], r[1], r[2], *map(int, r[3:7]), Decimal(r[7]), int(r[8])) for r in rows]


# ---------------------------------------------------------------------- nightly rollup
_ROLLUP = """
WITH events AS (
    SELECT site_id, purpose, count(*) AS calls, count(*) FILTER (WHERE outcome <> 'ok') AS errors,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd
    FROM usage_events
    WHERE at >= %(day)s::timestamp AT TIME ZONE 'UTC'
      AND at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY site_id, purpose
), latency AS (
    SELECT site_id,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95
    FROM usage_events
    WHERE at >= %(day)s::timestamp AT TIME ZONE 'UTC'
      AND at < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC' AND outcome = 'ok'
    GROUP BY site_id
), per_site AS (
    SELECT site_id, sum(calls) AS calls, sum(errors) AS errors,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd,
           jsonb_object_agg(purpose, jsonb_build_object(
               'calls', calls, 'tokens', input_tokens + output_tokens, 'cost_usd', cost_usd))
               AS by_purpose
    FROM events GROUP BY site_id
), requests AS (
    SELECT site_id, sum(requests) AS requests, sum(cache_hits) AS cache_hits
    FROM usage_requests WHERE day = %(day)s GROUP BY site_id
)
INSERT INTO usage_daily AS d (site_id, day, requests, cache_hits, calls, errors, input_tokens,
                              output_tokens, cost_usd, latency_p50_ms, latency_p95_ms,
                              by_purpose, rolled_up_at)
SELECT coalesce(p.site_id, r.site_id), %(day)s, coalesce(r.requests, 0),
       coalesce(r.cache_hits, 0), coalesce(p.calls, 0), coalesce(p.errors, 0),
       coalesce(p.input_tokens, 0), coalesce(p.output_tokens, 0), coalesce(p.cost_usd, 0),
       l.p50, l.p95, coalesce(p.by_purpose, '{}'), now()
FROM per_site p
FULL JOIN requests r ON r.site_id = p.site_id
LEFT JOIN latency l ON l.site_id = coalesce(p.site_id, r.site_id)
ON CONFLICT (site_id, day) DO UPDATE SET
    requests = EXCLUDED.requests, cache_hits = EXCLUDED.cache_hits, calls = EXCLUDED.calls,
    errors = EXCLUDED.errors, input_tokens = EXCLUDED.input_tokens,
    output_tokens = EXCLUDED.output_tokens, cost_usd = EXCLUDED.cost_usd,
    latency_p50_ms = EXCLUDED.latency_p50_ms, latency_p95_ms = EXCLUDED.latency_p95_ms,
    by_purpose = EXCLUDED.by_purpose, rolled_up_at = EXCLUDED.rolled_up_at
RETURNING site_id, requests, cache_hits, calls, errors, input_tokens + output_tokens,
          cost_usd, latency_p50_ms, latency_p95_ms
"""


@dataclass(frozen=True)
class SiteDay:
    site_id: str
    requests: int
    cache_hits: int
    calls: int
    errors: int
    tokens: int
    cost_usd: Decimal
    latency_p50_ms: float | None
    latency_p95_ms: float | None


def roll_up_day(conn: psycopg.Connection, day: date) -> list[SiteDay]:
    """Recompute `usage_daily` for `day` (UTC) from the raw events; idempotent."""
    rows = conn.execute(_ROLLUP, {"day": day}).fetchall()
    return sorted(
        (SiteDay(r[0], *map(int, r[1:6]), Decimal(r[6]), r[7], r[8]) for r in rows),
        key=lambda s: s.site_id,
    )


def prune_events(conn: psycopg.Connection, keep_days: int) -> int:
    """Drop raw events older than `keep_days` (their days live on in `usage_daily`)."""
    return conn.execute(
        "DELETE FROM usage_events WHERE at < now() - make_interval(days => %s)", (keep_days,)
    ).rowcount
