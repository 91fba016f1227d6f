"""Helpers for tests that index their own sites through Dagster."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dagster as dg

from pressrag.assets.indexing.definitions import INDEXING_ASSETS, INDEXING_CHECKS
from pressrag.orchestration.jobs import index_run_config
from pressrag.orchestration.sites import register_partition
from pressrag.resources.configured import configured_resources
from pressrag.resources.settings import get_settings
from tests.conftest import SAMPLE_DIR


def resources() -> dict[str, object]:
    """The resources configured from this process's settings now: a test may have changed
    them (the embedder, the answerer) since the definitions were loaded."""
    return configured_resources(get_settings())


def materialize_site(site_id: str, **config: object) -> dg.ExecuteInProcessResult:
    """Materialize every indexing asset (and checks) of one site partition, in process."""
    register_partition(site_id)
    return dg.materialize(
        [*INDEXING_ASSETS, *INDEXING_CHECKS],
        partition_key=site_id,
        instance=dg.DagsterInstance.get(),
        run_config=index_run_config(**config),  # type: ignore[arg-type]
        resources=resources(),
        raise_on_error=False,
    )


def evaluate_checks(site_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    """The `embeddings` asset of one site partition with its checks (with nothing pending it
    changes nothing), the checks' evaluations by name."""
    result = dg.materialize(
        [*INDEXING_ASSETS, *INDEXING_CHECKS],
        selection=dg.AssetSelection.assets("embeddings"),
        partition_key=site_id,
        instance=dg.DagsterInstance.get(),
        resources=resources(),
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def asset_metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    """The metadata values the asset reported in this run."""
    mats = result.asset_materializations_for_node(asset)
    assert mats, f"{asset} was not materialized"
    return {k: v.value for k, v in mats[-1].metadata.items()}


def copy_wxr_site(source_dir: Path, target_dir: Path) -> Path:
    """A private copy of a WXR export and its uploads folder, safe to edit."""
    shutil.copytree(source_dir, target_dir)
    return target_dir / "export.xml"


def copy_small_sample(target_dir: Path) -> Path:
    """A private copy of the sample with its posts 4–11 (64 chunks), both attachments and the
    non-public items (38–41): every path of the sample (text, media, exclusions) at ~40 % of
    its embedding time, for tests that index a site of their own."""
    export = copy_wxr_site(SAMPLE_DIR, target_dir)
    for wp_id in range(12, 38):
        remove_wxr_item(export, wp_id)
    return export


def remove_wxr_item(export: Path, wp_id: int) -> None:
    text = export.read_text(encoding="utf-8")
    pattern = re.compile(
        r"\s*<item>(?:(?!</item>).)*?<wp:post_id>" + str(wp_id) + r"</wp:post_id>.*?</item>",
        re.S,
    )
    new, count = pattern.subn("", text, count=1)
    assert count == 1, f"item {wp_id} not found in {export}"
    export.write_text(new, encoding="utf-8")


def replace_once(export: Path, old: str, new: str) -> None:
    text = export.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"expected exactly one occurrence of {old[:60]!r}"
    export.write_text(text.replace(old, new), encoding="utf-8")
