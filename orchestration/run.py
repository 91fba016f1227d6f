"""Run indexing through Dagster from the shell, search, and report status."""

from __future__ import annotations

import sys

from pressrag.orchestration.environment import prepare
from pressrag.orchestration.jobs import index_run_config
from pressrag.orchestration.sites import register_partition
from pressrag.resources.embedders import make_embedder
from pressrag.resources.errors import ConfigError
from pressrag.resources.models import SearchHit
from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from pressrag.resources.store.search import hybrid_search
from pressrag.resources.store.sites import get_site, list_sites
from pressrag.resources.store.spaces import active_space
from pressrag.resources.store.status import site_status


def _check_model(store: Store) -> None:
    """Fail before any work when the configured embedder differs from the index's model."""
    embedder = make_embedder(get_settings())
    space = store.active_space()
    if space and (space.model, space.dimension) != (embedder.model_id, embedder.dimension):
        raise ConfigError(
            f"the index was built with {space.model} ({space.dimension} dimensions) but the "
            f"configured embedder is {embedder.model_id} ({embedder.dimension} dimensions); "
            "set PRESSRAG_EMBEDDER back to match."
        )


def index_site_now(
    site_id: str,
    *,
    force_reembed: bool = False,
    reason: str = "manual",
    wp_ids: list[int] | None = None,
) -> bool:
    """Materialize the indexing assets for one site partition on the persistent instance:
    a full reconcile, or a targeted run of `wp_ids`."""
    import dagster as dg

    from pressrag.assets.indexing.definitions import (
        INDEXING_ASSETS,
        INDEXING_CHECKS,
        INDEXING_RESOURCES,
    )
    from pressrag.orchestration.orphans import fail_orphaned_runs
    from pressrag.orchestration.run_launcher import worker_tag
    from pressrag.orchestration.schedules import CHECKS

    urls = prepare()
    instance = dg.DagsterInstance.get()
    with Store(urls.app, max_size=1) as store:
        with store.connection() as conn:
            if get_site(conn, site_id) is None:
                raise ConfigError(f"unknown site {site_id!r}; add it with `pressrag sites add`")
        _check_model(store)
        for run_id in fail_orphaned_runs(instance, store):
            print(f"run {run_id} had lost its process: marked failed, its slots freed")
    register_partition(site_id)
    run_config = index_run_config(wp_ids=wp_ids, force_reembed=force_reembed, reason=reason)
    run_config["loggers"] = {"console": {"config": {"log_level": "INFO"}}}
    result = dg.materialize(
        # The drift check too: a full run from here is evaluated like one from the UI.
        [*INDEXING_ASSETS, *INDEXING_CHECKS, *CHECKS],
        partition_key=site_id,
        instance=instance,
        run_config=run_config,
        resources=INDEXING_RESOURCES,
        # Names this process as the run's worker, so run monitoring can fail the run if the
        # process dies (orchestration/run_launcher.py).
        tags={"pressrag/trigger": "cli", "pressrag/reason": reason, **worker_tag()},
        raise_on_error=False,
    )
    summary = _summarise(result)
    print(summary, file=sys.stderr if not result.success else sys.stdout)
    return result.success


def _summarise(result) -> str:
    lines = [f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}"]
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        # The figures only: lists, the column schema and the preview are for the Dagster UI.
        meta = {
            k: v.value
            for k, v in mat.metadata.items()
            if k != "failures" and isinstance(v.value, int | float | str | bool)
        }
        lines.append(f"  {mat.asset_key.to_user_string()}: {meta}")
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            message = error.message.strip().splitlines()[0] if error else "failed"
            lines.append(f"  step {event.step_key} failed: {message}")
    return "\n".join(lines)


def search(site_id: str, query: str, *, k: int = 8) -> list[SearchHit]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        site = get_site(conn, site_id)
        if site is None:
            raise ConfigError(f"unknown site {site_id!r}")
        space = active_space(conn)
        if space is None:
            raise ConfigError("nothing is indexed yet: run `pressrag index --site SITE`")
        embedder = make_embedder(get_settings())
        if (space.model, space.dimension) != (embedder.model_id, embedder.dimension):
            raise ConfigError(
                f"the index was built with {space.model}; the configured embedder is "
                f"{embedder.model_id}"
            )
        vector = embedder.embed([query])[0]
        return hybrid_search(
            conn,
            site_id=site.id,
            space=space,
            query_text=query,
            query_vector=vector,
            k=k,
            ts_config=site.ts_config,
        )


def status(site_id: str | None = None) -> list[dict]:
    urls = prepare()
    with Store(urls.app, max_size=1) as store, store.connection() as conn:
        ids = [site_id] if site_id else [s.id for s in list_sites(conn)]
        if site_id and get_site(conn, site_id) is None:
            raise ConfigError(f"unknown site {site_id!r}")
        return [site_status(conn, i) for i in ids]
