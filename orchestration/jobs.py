"""Jobs: one partitioned job indexes a site (full reconcile, or targeted by run config)."""

from __future__ import annotations

import os

import dagster as dg


def run_executor() -> dg.ExecutorDefinition:
    """In-process by default: the five steps share one process, so a run loads the model once
    (~5–8 s) instead of once per step — what keeps webhook-to-searchable within seconds.
    `PRESSRAG_RUN_EXECUTOR=multiprocess` restores Dagster's per-step processes."""
    if os.environ.get("PRESSRAG_RUN_EXECUTOR", "in_process") == "multiprocess":
        return dg.multiprocess_executor
    return dg.in_process_executor


index_site = dg.define_asset_job(
    name="index_site",
    selection=dg.AssetSelection.groups("indexing"),
    executor_def=run_executor(),
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
