"""What the write-back's assets and check share: their run config and the sites it names.

**Decision — not partitioned by site.** Index runs of a site queue behind each other
(`dagster.yaml` allows one run per `dagster/partition` value), so a write-back run of a site
partition would hold that site's slot and every webhook's index run would wait for it: a
first summarising of a large site with a chat model for hours. One run for all sites never
blocks indexing; per-site detail is in the metadata, and `sites` narrows a run to some.
"""

import dagster as dg
from pydantic import Field

from pressrag.resources.store import Store
from pressrag.resources.store.sites import Site, get_site, list_sites


class WritebackConfig(dg.Config):
    """Run config of every write-back step. Empty (what automation and the UI use): every
    site, only what changed since last time."""

    sites: list[str] = Field(default_factory=list)  # empty: every site
    regenerate_wp_ids: list[int] = Field(default_factory=list)  # with exactly one site
    force: bool = False  # redo every summary of `sites`


def sites_of(config: WritebackConfig, store: Store) -> list[Site]:
    """The sites a run covers; an unknown one fails the run by name."""
    with store.connection() as conn:
        if not config.sites:
            return list_sites(conn)
        found = {s: get_site(conn, s) for s in config.sites}
    unknown = sorted(s for s, site in found.items() if site is None)
    if unknown:
        raise dg.Failure(description=f"unknown sites {unknown}", allow_retries=False)
    if config.regenerate_wp_ids and len(found) != 1:
        raise dg.Failure(
            description="regenerate_wp_ids needs exactly one site in `sites`",
            allow_retries=False,
        )
    return [site for site in found.values() if site is not None]
