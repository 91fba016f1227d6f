"""LlamaIndex's worker for bench/peers, as its documentation builds an updatable index.

An `IngestionPipeline` (SentenceSplitter at the shared chunk size, counted with the model's
tokenizer, then the HuggingFace embedding of the bundled all-MiniLM-L6-v2) writing to a
`PGVectorStore`, with a `PostgresDocumentStore` so a re-run skips unchanged pages and
replaces changed ones (the default `upserts` strategy: pages missing from a run are not
deleted). Pages are read from HTML with BeautifulSoup, as LlamaIndex's HTML readers do.
Runs in its own virtualenv (requirements-llamaindex.txt), never imports PressRAG.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
from protocol import Recorder, clock, serve, time_each, timings  # noqa: E402

TABLE = "bench"  # PGVectorStore prefixes it: data_bench
state: dict = {}


def setup(message: dict) -> dict:
    import torch
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.storage.docstore.postgres import PostgresDocumentStore
    from llama_index.storage.kvstore.postgres import PostgresKVStore
    from llama_index.vector_stores.postgres import PGVectorStore
    from transformers import AutoTokenizer

    torch.set_num_threads(message["threads"])
    db = message["db"]
    sync_url = (
        f"postgresql+psycopg2://{db['user']}@/{db['name']}?host={db['host']}&port={db['port']}"
    )
    async_url = (
        f"postgresql+asyncpg://{db['user']}@/{db['name']}?host={db['host']}&port={db['port']}"
    )
    model = message["model"]
    embed = HuggingFaceEmbedding(model_name=model, device="cpu", embed_batch_size=message["batch"])
    embed.get_text_embedding("warm up: load the model before timing")
    tokenizer = AutoTokenizer.from_pretrained(model)
    store = PGVectorStore(
        connection_string=sync_url,
        async_connection_string=async_url,
        table_name=TABLE,
        embed_dim=384,
    )
    # Not PostgresDocumentStore.from_uri: 0.6.0 passes an argument its pinned kvstore
    # (0.4.x) does not take, and parses the URI into host/port (no unix socket).
    docstore = PostgresDocumentStore(
        PostgresKVStore(
            table_name="docstore",
            connection_string=sync_url,
            async_connection_string=async_url,
        )
    )
    splitter = SentenceSplitter(
        chunk_size=message["chunk_tokens"],
        chunk_overlap=message["overlap_tokens"],
        tokenizer=tokenizer.tokenize,
    )
    recorder = Recorder(embed._model.encode)
    embed._model.encode = recorder
    state.update(
        embed=embed,
        store=store,
        splitter=splitter,
        recorder=recorder,
        pipeline=IngestionPipeline(
            transformations=[splitter, embed], vector_store=store, docstore=docstore
        ),
        db=db,
    )
    return {"model": model, "backend": "sentence-transformers (PyTorch)"}


def documents(pages: list[corpus.Page]) -> list:
    from bs4 import BeautifulSoup
    from llama_index.core import Document

    return [
        Document(
            text=BeautifulSoup(p.html, "html.parser").get_text("\n", strip=True),
            id_=str(p.id),
            metadata={"title": p.title},
        )
        for p in pages
    ]


def chunk_texts(pages: list[corpus.Page], ids: list[int]) -> dict[str, list[str]]:
    """The texts the pipeline embeds for these pages (metadata included, as it embeds)."""
    from llama_index.core.schema import MetadataMode

    wanted = [p for p in pages if p.id in ids]
    out: dict[str, list[str]] = {str(p.id): [] for p in wanted}
    for node in state["splitter"].get_nodes_from_documents(documents(wanted)):
        out[node.ref_doc_id].append(node.get_content(metadata_mode=MetadataMode.EMBED))
    return out


def stored() -> dict[str, int]:
    import psycopg2

    db = state["db"]
    with psycopg2.connect(
        host=db["host"], port=db["port"], dbname=db["name"], user=db["user"]
    ) as c:
        cur = c.cursor()
        cur.execute(f"SELECT metadata_->>'ref_doc_id', count(*) FROM data_{TABLE} GROUP BY 1")
        return {page: n for page, n in cur.fetchall()}


def ingest(message: dict) -> dict:
    edited = message.get("edited", [])
    pages = corpus.load(Path(message["corpus"]))
    before = chunk_texts(state.get("pages", []), edited)
    state["pages"] = pages
    out: dict = {}
    state["recorder"].take()
    with clock(out):
        state["pipeline"].run(documents=documents(pages))
    state["embedded"] = state["recorder"].take()
    out.update(
        embedded=len(state["embedded"]),
        before=before,
        after=chunk_texts(pages, edited),
        stored=stored(),
    )
    return out


def baseline(message: dict) -> dict:
    """The model alone (sentence-transformers' encode, same batch size) on the same texts."""
    texts, out = state["embedded"], {"texts": len(state["embedded"])}
    with clock(out):
        state["recorder"].original(
            texts, batch_size=state["embed"].embed_batch_size, normalize_embeddings=True
        )
    return out


def query(message: dict) -> dict:
    import torch
    from llama_index.core import VectorStoreIndex
    from llama_index.core.vector_stores.types import VectorStoreQuery

    questions, k = message["questions"], message["k"]
    torch.set_num_threads(1)  # one question at a time, one thread: as PressRAG's serving
    retriever = VectorStoreIndex.from_vector_store(
        state["store"], embed_model=state["embed"]
    ).as_retriever(similarity_top_k=k)
    time_each(retriever.retrieve, questions[:8])
    e2e = time_each(retriever.retrieve, questions)
    vectors = [state["embed"].get_query_embedding(q) for q in questions]
    retrieval = time_each(
        lambda v: state["store"].query(VectorStoreQuery(query_embedding=v, similarity_top_k=k)),
        vectors,
    )
    state["recorder"].take()
    return {"e2e": timings(e2e), "retrieval": timings(retrieval)}


if __name__ == "__main__":
    serve({"setup": setup, "ingest": ingest, "baseline": baseline, "query": query})
