"""What every indexing asset shares: the site partition, run config, and small helpers."""

import time
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from pressrag.resources.errors import PressRAGError
from pressrag.resources.store import Store
from pressrag.resources.store.sites import Site, get_site

# One dynamic partition per site. Per-document detail lives in our tables and run metadata,
# not in partitions (Dagster advises against one partition per document).
site_partitions = dg.DynamicPartitionsDefinition(name="sites")

# Runs of one site queue behind each other (dagster.yaml limits this tag to 1 per value).
SITE_TAG = "pressrag/site"

# An asset's context, or an op's inside a graph-backed asset (assets/indexing/shards.py).
StepContext = dg.OpExecutionContext | dg.AssetExecutionContext


class IndexConfig(dg.Config):
    """Run config shared by the indexing assets.

    With no ids a run is a full reconcile of the site (what backfills and the nightly
    schedule do); with ids it is a targeted run for those WordPress objects (webhooks).
    """

    wp_ids: list[int] = Field(default_factory=list)
    deleted_wp_ids: list[int] = Field(default_factory=list)
    force_reembed: bool = False
    reason: str = "manual"  # manual | webhook | reconcile | backfill


def site_of(context: StepContext, store: Store) -> Site:
    site_id = context.partition_key
    with store.connection() as conn:
        site = get_site(conn, site_id)
    if site is None:
        raise dg.Failure(f"site {site_id!r} is not registered (pressrag sites add {site_id} ...)")
    return site


@contextmanager
def explained_failures() -> Iterator[None]:
    """Turn our expected errors into a `dg.Failure` whose description is the plain reason,
    so the Dagster UI, the CLI and run metadata show it instead of a wrapped traceback."""
    try:
        yield
    except PressRAGError as exc:
        raise dg.Failure(description=str(exc)) from exc


def run_kind(config: IndexConfig) -> str:
    return "targeted" if (config.wp_ids or config.deleted_wp_ids) else "full"


class Progress:
    """Logs "n/total" at most every few seconds, so long runs show they are alive."""

    def __init__(self, context: StepContext, label: str, total: int) -> None:
        self.context, self.label, self.total = context, label, total
        self.done = 0
        self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= 5 or self.done == self.total:
            self._last = now
            self.context.log.info(f"{self.label}: {self.done}/{self.total}")


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    box = {"seconds": 0.0}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["seconds"] = round(time.perf_counter() - start, 3)
