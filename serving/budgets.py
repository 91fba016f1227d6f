"""Budgets at the edge: a site whose requests for the day, or tokens or cost for the month, are
used up gets a 429 naming the budget (and `Retry-After` until it resets), never a 5xx.

The state is read from the ledger's running totals and reused for `ttl` seconds, so checking it
costs no round trip on most requests. The ledger lags by its flush interval, so a budget can be
passed by what a second or two of traffic spends; the requests after that are refused. While
the database cannot be read the budgets are not enforced (the routes that need the data answer
their own 503).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import UTC, datetime

import psycopg

from pressrag.resources.gateway.budgets import (
    BudgetLine,
    Budgets,
    budget_lines,
    exhausted,
    overall_state,
    read_usage,
)
from pressrag.resources.store import Store
from pressrag.serving.directory import SiteEntry
from pressrag.serving.errors import ApiError

log = logging.getLogger("serving.budgets")


class BudgetGate:
    def __init__(self, store: Store, *, ttl: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl
        self._lines: dict[str, tuple[float, list[BudgetLine]]] = {}
        self._lock = threading.Lock()

    def lines(self, entry: SiteEntry, *, fresh: bool = False) -> list[BudgetLine]:
        budgets = Budgets.of(entry.site.settings)
        if not any(
            (budgets.requests_per_day, budgets.tokens_per_month, budgets.cost_per_month_usd)
        ):
            return []
        now = time.monotonic()
        cached = self._lines.get(entry.id)
        if cached and not fresh and now - cached[0] < self.ttl:
            return cached[1]
        when = datetime.now(UTC)
        with self.store.connection() as conn:
            lines = budget_lines(budgets, read_usage(conn, entry.id, when), when)
        with self._lock:
            if len(self._lines) > 10_000:
                self._lines.clear()
            self._lines[entry.id] = (now, lines)
        return lines

    def state(self, entry: SiteEntry) -> dict:
        """The budget block of the status and usage routes: {state, budgets, lines}."""
        lines = self.lines(entry, fresh=True)
        return {
            "state": overall_state(lines),
            "budgets": Budgets.of(entry.site.settings).as_settings(),
            "lines": [line.as_json() for line in lines],
        }

    def check(self, entry: SiteEntry) -> None:
        """429 `budget_exhausted` when one of the site's budgets is used up."""
        try:
            line = exhausted(self.lines(entry))
        except psycopg.Error as exc:  # fail open: an outage must not turn into refusals
            log.warning("budgets: cannot read the ledger (%s)", type(exc).__name__)
            return
        if line is None:
            return
        wait = max(1, math.ceil((line.resets_at - datetime.now(UTC)).total_seconds()))
        raise ApiError(
            429,
            "budget_exhausted",
            f"the site's {line.name} budget is used up ({line.used:g} of {line.limit:g}); "
            f"it resets at {line.resets_at.isoformat()}",
            headers={"Retry-After": str(wait)},
            extra={"budget": line.name, "resets_at": line.resets_at.isoformat()},
        )
