"""The indexing domain's own small `Definitions`: its assets, checks and resources."""

import dagster as dg

from pressrag.assets.indexing.checks import (
    dimension_matches_model,
    indexed_documents_have_chunks,
    no_orphan_chunks,
)
from pressrag.assets.indexing.chunking import chunks
from pressrag.assets.indexing.documents import wp_documents, wp_media
from pressrag.assets.indexing.embeddings import embeddings
from pressrag.assets.indexing.quality import search_quality
from pressrag.assets.indexing.text import extracted_text
from pressrag.resources.configured import code_location_resources
from pressrag.resources.dagster_resources import STEP_OUTPUTS

INDEXING_ASSETS = [wp_documents, wp_media, extracted_text, chunks, embeddings]

INDEXING_CHECKS = [
    no_orphan_chunks,
    indexed_documents_have_chunks,
    dimension_matches_model,
    search_quality,
]
INDEXING_RESOURCES = {
    key: code_location_resources()[key] for key in ("store", "embedder", "wordpress", STEP_OUTPUTS)
}

defs = dg.Definitions(
    assets=INDEXING_ASSETS, asset_checks=INDEXING_CHECKS, resources=INDEXING_RESOURCES
)
