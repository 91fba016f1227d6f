"""The gateway from the shell: API keys, budgets, usage (`pressrag keys|budget|usage`), and
each site's budget state for `pressrag status`. No Dagster import: these commands are quick."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import psycopg

from pressrag.orchestration.environment import prepare
from pressrag.resources.errors import ConfigError
from pressrag.resources.gateway import keys
from pressrag.resources.gateway.budgets import (
    Budgets,
    budget_lines,
    overall_state,
    read_usage,
    save_budgets,
)
from pressrag.resources.gateway.reports import DayUsage, ModelUsage, usage_by_day, usage_by_model
from pressrag.resources.store import Store
from pressrag.resources.store.sites import get_site

_DAYS = re.compile(r"^(\d{1,4})d$")


@contextmanager
def _connection() -> Iterator[psycopg.Connection]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        yield conn


def _require_site(conn: psycopg.Connection, site_id: str):
    site = get_site(conn, site_id)
    if site is None:
        raise ConfigError(f"no site {site_id!r} (pressrag sites list)")
    return site


# ---------------------------------------------------------------------- keys
def create_key(site_id: str, scopes: Sequence[str], name: str = "") -> keys.CreatedKey:
    with _connection() as conn:
        _require_site(conn, site_id)
        return keys.create_key(conn, site_id, scopes, name)


def list_keys(site_id: str | None) -> list[keys.ApiKey]:
    with _connection() as conn:
        return keys.list_keys(conn, site_id)


def revoke_key(key_id: str, site_id: str | None) -> keys.ApiKey:
    with _connection() as conn:
        revoked = keys.revoke_key(conn, key_id, site_id)
    if revoked is None:
        where = f" of site {site_id}" if site_id else ""
        raise ConfigError(f"no active key {key_id!r}{where} (pressrag keys list)")
    return revoked


# ---------------------------------------------------------------------- budgets
def set_budgets(site_id: str, **changes: float | None) -> Budgets:
    with _connection() as conn:
        site = _require_site(conn, site_id)
        budgets = Budgets.of(site.settings).changed(**changes)
        save_budgets(conn, site_id, budgets)
    return budgets


def budget_reports(site_ids: Sequence[str]) -> dict[str, dict]:
    """Each site's limits and where each stands: {state, budgets, lines}."""
    now = datetime.now(UTC)
    reports = {}
    with _connection() as conn:
        for site_id in site_ids:
            budgets = Budgets.of(_require_site(conn, site_id).settings)
            lines = budget_lines(budgets, read_usage(conn, site_id, now), now)
            reports[site_id] = {
                "state": overall_state(lines),
                "budgets": budgets.as_settings(),
                "lines": [line.as_json() for line in lines],
            }
    return reports


# ---------------------------------------------------------------------- usage
def parse_since(value: str | None, today: date) -> date:
    """`YYYY-MM-DD`, `Nd` (the last N days, today included) or `month` (the default)."""
    if value is None or value == "month":
        return today.replace(day=1)
    match = _DAYS.match(value)
    if match:
        return today - timedelta(days=max(1, int(match.group(1))) - 1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since takes YYYY-MM-DD, Nd or month, not {value!r}") from None


def usage(site_id: str | None, since: date, until: date) -> tuple[list[DayUsage], list[ModelUsage]]:
    with _connection() as conn:
        if site_id is not None:
            _require_site(conn, site_id)
        days = usage_by_day(conn, site_id, since, until)
        return days, usage_by_model(conn, site_id, since, until)
