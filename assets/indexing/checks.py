"""Asset checks that guard the index's invariants after every embeddings run."""

import dagster as dg

from assets.indexing.embeddings import embeddings
from resources.dagster_resources import EmbedderResource, StoreResource


@dg.asset_check(asset=embeddings, description="No live chunk belongs to a non-public document.")
def no_orphan_chunks(store: StoreResource) -> dg.AssetCheckResult:
    with store.get().connection() as conn:
        count = conn.execute(
            "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE d.visibility <> 'public'"
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=count == 0, metadata={"orphan_chunks": count})


@dg.asset_check(asset=embeddings, description="Every indexed public document with text has chunks.")
def indexed_documents_have_chunks(store: StoreResource) -> dg.AssetCheckResult:
    with store.get().connection() as conn:
        rows = conn.execute(
            """SELECT d.site_id, d.wp_id FROM documents d
               WHERE d.visibility = 'public' AND d.indexed_hash = d.content_hash
                 AND coalesce(btrim(d.extracted_text), '') <> ''
                 AND NOT EXISTS (
                     SELECT 1 FROM chunks c JOIN embedding_spaces s ON s.id = c.space_id
                     WHERE c.document_id = d.id AND s.state = 'active')
               LIMIT 20"""
        ).fetchall()
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={"documents_without_chunks": [f"{s}:{w}" for s, w in rows]},
    )


@dg.asset_check(
    asset=embeddings, description="Live vectors have the active model's dimension and model."
)
def dimension_matches_model(
    store: StoreResource, embedder: EmbedderResource
) -> dg.AssetCheckResult:
    model = embedder.get()
    with store.get().connection() as conn:
        space = conn.execute(
            "SELECT id, model, dimension FROM embedding_spaces WHERE state = 'active'"
        ).fetchone()
        wrong = conn.execute(
            "SELECT count(*) FROM chunks c JOIN embedding_spaces s ON s.id = c.space_id "
            "WHERE vector_dims(c.embedding) <> s.dimension"
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
