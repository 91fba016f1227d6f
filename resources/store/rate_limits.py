"""Rate-limit buckets in PostgreSQL (`rate_limits`, migration 0010), shared by serving replicas.

GCRA, kept as the level of a leaky bucket: a bucket counts requests, drains `per_second` of
them a second, and a request fits when the level drained to now, plus one, is at most `burst`.
The level is counted in requests, not as a "theoretical arrival time" in seconds, so two
replicas whose settings differ for a while (a rolling deploy) read the same row the same way,
each with its own rate and burst.

`take` decides all of a request's buckets in one statement, one round trip: per bucket an
INSERT … ON CONFLICT DO UPDATE … RETURNING, chained in CTEs so a bucket is only counted when
every bucket before it let the request through. ON CONFLICT locks the row, so concurrent takes
of one key from any number of replicas queue on it and each sees the level the previous one
left: no request is counted twice or lost. Callers name the buckets of a request in one fixed
order (a client's before its site's), so two statements never wait for each other's rows.
Run it on an autocommit connection: the row locks last only as long as the statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import psycopg


@dataclass(frozen=True)
class Take:
    key: str
    per_second: float
    burst: float


@dataclass(frozen=True)
class Refused:
    index: int  # which of the takes had no room
    wait: float  # seconds until it has room for one request


# The level drained from `r.at` to now (`excluded.at`: the time the new row would carry).
_DRAINED = "greatest(0, r.level - greatest(0, excluded.at - r.at) * %(per_second{i})s)"

_STEP = """t{i} AS (
    INSERT INTO rate_limits AS r (key, level, at, allowed)
    SELECT %(key{i})s, 1, clock.now, true FROM {source}
    ON CONFLICT (key) DO UPDATE SET
        level = {drained} + CASE WHEN {drained} + 1 <= %(burst{i})s THEN 1 ELSE 0 END,
        at = greatest(r.at, excluded.at),
        allowed = {drained} + 1 <= %(burst{i})s
    RETURNING allowed, level
)"""


@cache
def _statement(count: int) -> str:
    steps = [
        _STEP.format(
            i=i,
            drained=_DRAINED.format(i=i),
            source="clock" if i == 0 else f"clock, t{i - 1} WHERE t{i - 1}.allowed",
        )
        for i in range(count)
    ]
    columns = ", ".join(f"t{i}.allowed, t{i}.level" for i in range(count))
    joins = "".join(f" LEFT JOIN t{i} ON true" for i in range(1, count))
    return (
        "WITH clock AS (SELECT extract(epoch FROM now())::float8 AS now),\n"
        + ",\n".join(steps)
        + f"\nSELECT {columns} FROM t0{joins}"
    )


def take(conn: psycopg.Connection, takes: Sequence[Take]) -> Refused | None:
    """Count one request in each bucket, in order, up to the first without room.

    None when every bucket had room (the request is counted in all of them); else the first
    bucket that refused and the wait. The buckets before it have counted the request.
    """
    if not takes:
        return None
    params: dict[str, object] = {}
    for i, t in enumerate(takes):
        params |= {f"key{i}": t.key, f"per_second{i}": t.per_second, f"burst{i}": t.burst}
    row = conn.execute(_statement(len(takes)), params).fetchone()
    assert row is not None  # t0 always returns its row
    for i, t in enumerate(takes):
        allowed, level = row[2 * i], row[2 * i + 1]
        if not allowed:
            return Refused(i, (level + 1 - t.burst) / t.per_second)
    return None


def prune(conn: psycopg.Connection, slowest_per_second: float) -> int:
    """Delete the rows of drained buckets (an absent row is an empty bucket): keeps the table
    to the keys in use. Drained at the slowest rate in use, so no row another limit still
    counts on is lost. Returns how many rows went."""
    cursor = conn.execute(
        "DELETE FROM rate_limits WHERE level <= (extract(epoch FROM now())::float8 - at) * %s",
        (slowest_per_second,),
    )
    return cursor.rowcount
