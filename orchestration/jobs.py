"""Jobs: one partitioned job indexes a site (full reconcile, or targeted by run config)."""

from __future__ import annotations

import dagster as dg

index_site = dg.define_asset_job(
    name="index_site",
    selection=dg.AssetSelection.groups("indexing"),
    description="Index one site: full reconcile by default, or only the WP ids in run config.",
)

INDEXING_OPS = ("wp_documents", "wp_media", "extracted_text", "chunks", "embeddings")


def index_run_config(
    *,
    wp_ids: list[int] | None = None,
    deleted_wp_ids: list[int] | None = None,
    force_reembed: bool = False,
    reason: str = "manual",
) -> dict:
    """Run config giving every indexing asset the same `IndexConfig`."""
    config = {
        "wp_ids": sorted(set(wp_ids or [])),
        "deleted_wp_ids": sorted(set(deleted_wp_ids or [])),
        "force_reembed": force_reembed,
        "reason": reason,
    }
    return {"ops": {name: {"config": config} for name in INDEXING_OPS}}
