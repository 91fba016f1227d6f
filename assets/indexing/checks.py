"""Asset checks that guard the index's invariants after every embeddings run, per site: one
site's problem is that site's failed check, never every site's."""

import dagster as dg

from pressrag.assets.indexing.common import site_partitions
from pressrag.assets.indexing.embeddings import embeddings
from pressrag.resources.dagster_resources import EmbedderResource, StoreResource


@dg.asset_check(
    asset=embeddings,
    partitions_def=site_partitions,
    description="No live chunk of the site belongs to a non-public document.",
)
def no_orphan_chunks(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    with store.get().connection() as conn:
        count = conn.execute(
            "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.site_id = %s AND d.visibility <> 'public'",
            (context.partition_key,),
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=count == 0, metadata={"orphan_chunks": count})


@dg.asset_check(
    asset=embeddings,
    partitions_def=site_partitions,
    description="Every indexed public document of the site with text has chunks.",
)
def indexed_documents_have_chunks(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    with store.get().connection() as conn:
        rows = conn.execute(
            """SELECT d.wp_id FROM documents d
               WHERE d.site_id = %s AND d.visibility = 'public'
                 AND d.indexed_hash = d.content_hash
                 AND coalesce(btrim(d.extracted_text), '') <> ''
                 AND NOT EXISTS (
                     SELECT 1 FROM chunks c JOIN embedding_spaces s ON s.id = c.space_id
                     WHERE c.document_id = d.id AND s.state = 'active')
               ORDER BY d.wp_id
               LIMIT 20""",
            (context.partition_key,),
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={"documents_without_chunks": dg.MetadataValue.json([r[0] for r in rows])},
    )


@dg.asset_check(
    asset=embeddings,
    partitions_def=site_partitions,
    description="The site's live vectors have the active model's dimension, and the active "
    "model is the configured one.",
)
def dimension_matches_model(
    context: dg.AssetCheckExecutionContext, store: StoreResource, embedder: EmbedderResource
) -> dg.AssetCheckResult:
    model = embedder.get()
    with store.get().connection() as conn:
        space = conn.execute(
            "SELECT id, model, dimension FROM embedding_spaces WHERE state = 'active'"
        ).fetchone()
        wrong = conn.execute(
            "SELECT count(*) FROM chunks c JOIN embedding_spaces s ON s.id = c.space_id "
            "WHERE c.site_id = %s AND vector_dims(c.embedding) <> s.dimension",
            (context.partition_key,),
        ).fetchone()[0]
    matches = space is None or (space[1], space[2]) == (model.model_id, model.dimension)
    return dg.AssetCheckResult(
        passed=matches and wrong == 0,
        metadata={
            "active_model": space[1] if space else "none",
            "configured_model": model.model_id,
            "dimension": model.dimension,
            "vectors_with_wrong_dimension": wrong,
        },
    )
