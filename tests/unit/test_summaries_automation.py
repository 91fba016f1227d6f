"""When the `summaries` asset is requested: after any site's text changed, whatever the
other sites' partitions look like (one site whose first index failed must not hold back
every site's summaries)."""

from __future__ import annotations

import dagster as dg

from pressrag.assets.indexing.definitions import INDEXING_RESOURCES
from pressrag.assets.indexing.text import extracted_text
from pressrag.assets.writeback.definitions import WRITEBACK_RESOURCES
from pressrag.assets.writeback.summaries import summaries

# The two assets with the resources they name (nothing runs: conditions are only evaluated).
DEFS = dg.Definitions(
    assets=[extracted_text, summaries], resources={**INDEXING_RESOURCES, **WRITEBACK_RESOURCES}
)


def _requested(instance: dg.DagsterInstance, cursor: object = None) -> tuple[bool, object]:
    result = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=cursor)
    wanted = any(r.key == summaries.key and r.true_subset.size for r in result.results)
    return wanted, result.cursor


def _new_text(instance: dg.DagsterInstance, site: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(extracted_text.key, partition=site))


def test_a_site_that_never_indexed_does_not_hold_back_the_others() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("sites", ["indexed", "never-indexed"])
        _, cursor = _requested(instance)  # the first tick only starts the cursor
        instance.report_runless_asset_event(
            dg.AssetMaterialization(extracted_text.key, partition="indexed")
        )
        wanted, cursor = _requested(instance, cursor)
        assert wanted, "summaries wait for a site whose text was never extracted"
        instance.report_runless_asset_event(dg.AssetMaterialization(summaries.key))
        wanted, cursor = _requested(instance, cursor)
        assert not wanted, "nothing changed since the summaries ran"
        instance.report_runless_asset_event(
            dg.AssetMaterialization(extracted_text.key, partition="indexed")
        )
        wanted, _ = _requested(instance, cursor)
        assert wanted, "a site's new text did not request summaries"


def test_new_text_seen_with_an_earlier_runs_summaries_is_still_summarised() -> None:
    """A summaries run that started before an edit ends between the same two ticks as the
    edit's new text: the edit's text was never summarised, so summaries are requested."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("sites", ["site"])
        _, cursor = _requested(instance)
        instance.report_runless_asset_event(dg.AssetMaterialization(summaries.key))
        _new_text(instance, "site")
        wanted, cursor = _requested(instance, cursor)
        assert wanted, "the edit's new text was taken as summarised by an earlier run"
        wanted, _ = _requested(instance, cursor)
        assert not wanted, "requested again with nothing new"


def test_new_text_right_after_a_request_is_summarised_again() -> None:
    """An edit's new text lands between the tick that requested summaries and the next one:
    the request was made before the text existed, so it must not count as handling it."""
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("sites", ["site"])
        _, cursor = _requested(instance)
        _new_text(instance, "site")
        wanted, cursor = _requested(instance, cursor)
        assert wanted, "the first text did not request summaries"
        _new_text(instance, "site")
        wanted, cursor = _requested(instance, cursor)
        assert wanted, "new text right after a request was taken as handled by it"
        wanted, _ = _requested(instance, cursor)
        assert not wanted, "requested again with nothing new"
