"""PressRAG's worker for bench/peers: its real pipeline and its real search.

Indexes the corpus's WXR export through Dagster in process (`dg.materialize` of every
indexing asset and check, as `pressrag index` and bench/scale.py do) into the `pressrag`
database of the shared embedded PostgreSQL, and answers questions as serving does: the
question embedded by serving's embedder (ONNX int8, one thread), then `hybrid_search` on a
search session. Runs in the project's virtualenv; PRESSRAG_HOME is set by the parent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

import corpus  # noqa: E402
from protocol import Recorder, clock, serve, time_each, timings  # noqa: E402

from bench.scale import indexing_embedder  # noqa: E402

SITE = "peers"
state: dict = {}


def setup(message: dict) -> dict:
    from pressrag.orchestration.environment import prepare
    from pressrag.orchestration.sites import add_site
    from pressrag.resources.store import Store

    prepare()
    export = Path(message["work"]) / "pressrag-export.xml"
    export.write_text(corpus.wxr([]), encoding="utf-8")
    add_site(SITE, wxr=str(export))
    model = indexing_embedder()
    model.embed(["warm up: load the model before timing"])
    state.update(
        export=export,
        model=model,
        recorder=Recorder(model.embed),
        store=Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=2),
    )
    model.embed = state["recorder"]  # type: ignore[method-assign]
    return {"model": model.model_id, "backend": "ONNX Runtime fp32 (indexing's)"}


def chunk_texts(wp_ids: list[int]) -> dict[str, list[str]]:
    """The texts the pipeline embeds for these pages now, from their stored extracted text
    (the chunker PressRAG runs, with its settings)."""
    from pressrag.assets.transforms.chunking import chunk_document
    from pressrag.resources.settings import get_settings

    settings, model = get_settings(), state["model"]
    with state["store"].connection() as conn:
        rows = conn.execute(
            "SELECT wp_id, title, extracted_text FROM documents WHERE site_id = %s "
            "AND wp_id = ANY(%s) AND visibility = 'public'",
            (SITE, wp_ids),
        ).fetchall()
    return {
        str(wp_id): [
            draft.embed_text
            for draft in chunk_document(
                title,
                text or "",
                count_tokens=model.count_tokens,
                max_tokens=model.max_tokens,
                overlap_tokens=settings.chunk_overlap_tokens,
                target_tokens=settings.chunk_target_tokens,
            )
        ]
        for wp_id, title, text in rows
    }


def stored() -> dict[str, int]:
    with state["store"].connection() as conn:
        rows = conn.execute(
            "SELECT d.wp_id, count(*) FROM chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.site_id = %s GROUP BY d.wp_id",
            (SITE,),
        ).fetchall()
    return {str(wp_id): n for wp_id, n in rows}


def ingest(message: dict) -> dict:
    from tests.support.indexing import asset_metadata, materialize_site

    edited = message.get("edited", [])
    pages = corpus.load(Path(message["corpus"]))
    before = chunk_texts(edited)
    state["export"].write_text(corpus.wxr(pages, edited), encoding="utf-8")
    out: dict = {}
    state["recorder"].take()
    with clock(out):
        result = materialize_site(SITE)
    if not result.success:
        raise RuntimeError("indexing failed; see this worker's log")
    state["embedded"] = state["recorder"].take()
    chunks = int(asset_metadata(result, "embeddings")["chunks_embedded"])
    out.update(
        embedded=chunks,
        # The search-quality self-check embeds up to 50 page titles as questions.
        other_texts=len(state["embedded"]) - chunks,
        before=before,
        after=chunk_texts(edited),
        stored=stored(),
    )
    return out


def baseline(message: dict) -> dict:
    """The embedder alone on every text the last ingest embedded (chunks and the quality
    check's titles), called as the pipeline calls it (length-sorted slices)."""
    from pressrag.assets.indexing.embeddings import embed_by_length

    texts, out = state["embedded"], {"texts": len(state["embedded"])}
    with clock(out):
        embed_by_length(state["model"], texts, lambda n: None)
    state["recorder"].take()  # the baseline's own texts are not the pipeline's
    return out


def query(message: dict) -> dict:
    from pressrag.resources.embedders import make_embedder
    from pressrag.resources.settings import get_settings
    from pressrag.resources.store.search import hybrid_search

    questions, k = message["questions"], message["k"]
    serving = make_embedder(get_settings(), threads=1, backend="onnx-int8")
    store = state["store"]
    space = store.active_space()
    with store.search_connection() as conn:

        def search(question: str, vector=None) -> None:  # type: ignore[no-untyped-def]
            hybrid_search(
                conn,
                site_id=SITE,
                space=space,
                query_text=question,
                query_vector=serving.embed([question])[0] if vector is None else vector,
                k=k,
            )

        time_each(search, questions[:8])  # model load, prepared statements, index pages
        e2e = time_each(search, questions)
        vectors = serving.embed(questions)
        retrieval = time_each(lambda p: search(*p), list(zip(questions, vectors, strict=True)))
    return {"e2e": timings(e2e), "retrieval": timings(retrieval)}


if __name__ == "__main__":
    serve({"setup": setup, "ingest": ingest, "baseline": baseline, "query": query})
