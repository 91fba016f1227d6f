"""The write-back domain's own small `Definitions`: its assets, check and resources.

`store` and `embedder` are the indexing domain's resource objects themselves: merged
definitions must not hold two different resources under one key.
"""

import dagster as dg

from pressrag.assets.indexing.definitions import INDEXING_RESOURCES
from pressrag.assets.writeback.checks import every_document_has_a_current_summary
from pressrag.assets.writeback.delivery import summaries_to_wordpress
from pressrag.assets.writeback.summaries import summaries
from pressrag.resources.writeback.dagster_resources import (
    DraftWriterResource,
    SummariserResource,
    WordPressCallbackResource,
)

WRITEBACK_ASSETS = [summaries, summaries_to_wordpress]
WRITEBACK_CHECKS = [every_document_has_a_current_summary]
WRITEBACK_RESOURCES = {
    "store": INDEXING_RESOURCES["store"],
    "embedder": INDEXING_RESOURCES["embedder"],
    "summariser": SummariserResource(),
    "writer": DraftWriterResource(),
    "callbacks": WordPressCallbackResource(),
}

defs = dg.Definitions(
    assets=WRITEBACK_ASSETS, asset_checks=WRITEBACK_CHECKS, resources=WRITEBACK_RESOURCES
)
