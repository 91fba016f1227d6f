"""Summaries from the shell: run the write-back of one site now, and list its summaries."""

from __future__ import annotations

import sys

from pressrag.orchestration.environment import prepare
from pressrag.resources.errors import ConfigError
from pressrag.resources.store import Store
from pressrag.resources.store.sites import get_site
from pressrag.resources.writeback import store as summaries_sql


def write_back_now(site_id: str) -> bool:
    """Materialize the write-back assets (and check) of one site on the persistent instance."""
    import dagster as dg

    from pressrag.assets.writeback.definitions import (
        WRITEBACK_ASSETS,
        WRITEBACK_CHECKS,
        WRITEBACK_RESOURCES,
    )
    from pressrag.orchestration.writeback import writeback_run_config

    _known_site(site_id)
    result = dg.materialize(
        [*WRITEBACK_ASSETS, *WRITEBACK_CHECKS],
        instance=dg.DagsterInstance.get(),
        run_config=writeback_run_config([site_id]),
        resources=WRITEBACK_RESOURCES,
        tags={"pressrag/trigger": "cli"},
        raise_on_error=False,
    )
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        shown = {k: v.value for k, v in mat.metadata.items() if k not in ("failures",)}
        print(f"  {mat.asset_key.to_user_string()}: {shown}")
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            first = event.step_failure_data.error.message.strip().splitlines()[0]
            print(f"  step {event.step_key} failed: {first}", file=sys.stderr)
    return result.success


def list_summaries(site_id: str) -> list[dict]:
    """Every summary of a site, with its document and delivery state."""
    with Store(_known_site(site_id), max_size=1) as store, store.connection() as conn:
        return summaries_sql.list_summaries(conn, site_id)


def _known_site(site_id: str) -> str:
    url = prepare().app
    with Store(url, max_size=1) as store, store.connection() as conn:
        if get_site(conn, site_id) is None:
            raise ConfigError(f"unknown site {site_id!r}; add it with `pressrag sites add`")
    return url
