"""`usage_daily`: the usage ledger rolled up per site and UTC day (one partition per day).

Each materialization recomputes its day from the raw ledger events (idempotent: a re-run or a
backfill gives the same rows), keeps what only raw events can give (latency percentiles) in
`usage_daily`, and prunes raw events past the retention window, whose days live on there. Its
metadata carries the day's totals (the Dagster UI plots numeric metadata across partitions),
a table per site, and a per-day chart of the last 30 days' tokens and requests.
"""

from datetime import timedelta

import dagster as dg

from pressrag.resources.dagster_resources import StoreResource
from pressrag.resources.gateway.reports import prune_events, roll_up_day
from pressrag.resources.settings import get_settings

# end_offset=1: today is a partition too, so the day so far can be rolled up on demand; the
# schedule rolls up each day once it has ended.
usage_days = dg.DailyPartitionsDefinition(start_date="2026-01-01", timezone="UTC", end_offset=1)
CHART_DAYS = 30
BAR = 40  # characters of the longest bar


def per_day_chart(days: list[tuple[str, int, int, float]]) -> str:
    """A markdown chart of (day, requests, tokens, cost): one bar per day, scaled to tokens."""
    top = max((tokens for _, _, tokens, _ in days), default=0) or 1
    lines = ["| day | requests | tokens | cost USD | |", "|---|---:|---:|---:|---|"]
    for day, requests, tokens, cost in days:
        bar = "█" * max(1 if tokens else 0, round(BAR * tokens / top))
        lines.append(f"| {day} | {requests} | {tokens} | {cost:.4f} | `{bar}` |")
    return "\n".join(lines)


@dg.asset(
    partitions_def=usage_days,
    group_name="gateway",
    kinds={"postgres"},
    description="Model calls, tokens, cost and requests per site for one UTC day.",
)
def usage_daily(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    day = context.partition_time_window.start.date()
    with store.get().connection() as conn:
        sites = roll_up_day(conn, day)
        pruned = prune_events(conn, get_settings().usage_retention_days)
        recent = conn.execute(
            "SELECT day::text, sum(requests), sum(input_tokens + output_tokens), sum(cost_usd) "
            "FROM usage_daily WHERE day > %s AND day <= %s GROUP BY day ORDER BY day",
            (day - timedelta(days=CHART_DAYS), day),
        ).fetchall()
    context.log.info(f"usage of {day}: {len(sites)} sites; {pruned} old events pruned")
    table = dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "site": s.site_id,
                    "requests": s.requests,
                    "cache_hits": s.cache_hits,
                    "calls": s.calls,
                    "errors": s.errors,
                    "tokens": s.tokens,
                    "cost_usd": float(s.cost_usd),
                    "p95_ms": float(s.latency_p95_ms or 0.0),
                }
            )
            for s in sites
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("site", "string"),
                dg.TableColumn("requests", "int"),
                dg.TableColumn("cache_hits", "int"),
                dg.TableColumn("calls", "int"),
                dg.TableColumn("errors", "int"),
                dg.TableColumn("tokens", "int"),
                dg.TableColumn("cost_usd", "float"),
                dg.TableColumn("p95_ms", "float", description="model call latency, p95"),
            ]
        ),
    )
    chart = per_day_chart([(d, int(r), int(t), float(c)) for d, r, t, c in recent])
    return dg.MaterializeResult(
        metadata={
            "day": day.isoformat(),
            "sites": len(sites),
            "requests": sum(s.requests for s in sites),
            "cache_hits": sum(s.cache_hits for s in sites),
            "model_calls": sum(s.calls for s in sites),
            "errors": sum(s.errors for s in sites),
            "tokens": sum(s.tokens for s in sites),
            "cost_usd": float(sum(s.cost_usd for s in sites)),
            "per_site": table,
            "per_day": dg.MetadataValue.md(chart),
            "pruned_events": pruned,
        }
    )
