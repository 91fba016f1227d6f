"""The write-back domain's own small `Definitions`: its assets, check and resources.

Its resources are the code location's (`resources/configured.py`): merged definitions must
not hold two different resources under one key.
"""

import dagster as dg

from pressrag.assets.writeback.checks import every_document_has_a_current_summary
from pressrag.assets.writeback.delivery import summaries_to_wordpress
from pressrag.assets.writeback.summaries import summaries
from pressrag.resources.configured import code_location_resources

WRITEBACK_ASSETS = [summaries, summaries_to_wordpress]
WRITEBACK_CHECKS = [every_document_has_a_current_summary]
WRITEBACK_RESOURCES = {
    key: code_location_resources()[key]
    for key in ("store", "embedder", "summariser", "writer", "callbacks")
}

defs = dg.Definitions(
    assets=WRITEBACK_ASSETS, asset_checks=WRITEBACK_CHECKS, resources=WRITEBACK_RESOURCES
)
