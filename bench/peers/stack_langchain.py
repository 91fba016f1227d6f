"""LangChain's worker for bench/peers, as its indexing guide builds an updatable index.

`index()` with a `SQLRecordManager` (in the same database) over a langchain-postgres
`PGVector` store, `cleanup="incremental"` keyed by the page (the mode for feeding changes:
chunks of a changed page are replaced, pages missing from a run are not deleted; only
`"full"` does that). Pages are read from HTML with BeautifulSoup and split with
RecursiveCharacterTextSplitter at the shared chunk size counted with the model's tokenizer;
HuggingFaceEmbeddings runs the bundled all-MiniLM-L6-v2. Runs in its own virtualenv
(requirements-langchain.txt), never imports PressRAG.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
from protocol import Recorder, clock, serve, time_each, timings  # noqa: E402

COLLECTION = "bench"
state: dict = {}


def setup(message: dict) -> dict:
    import torch
    from langchain_classic.indexes import SQLRecordManager
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_postgres import PGVector
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from transformers import AutoTokenizer

    torch.set_num_threads(message["threads"])
    db = message["db"]
    url = f"postgresql+psycopg://{db['user']}@/{db['name']}?host={db['host']}&port={db['port']}"
    model = message["model"]
    embed = HuggingFaceEmbeddings(
        model_name=model,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"batch_size": message["batch"], "normalize_embeddings": True},
    )
    embed.embed_query("warm up: load the model before timing")
    splitter = RecursiveCharacterTextSplitter.from_huggingface_tokenizer(
        AutoTokenizer.from_pretrained(model),
        chunk_size=message["chunk_tokens"],
        chunk_overlap=message["overlap_tokens"],
    )
    records = SQLRecordManager(f"pgvector/{COLLECTION}", db_url=url)
    records.create_schema()
    recorder = Recorder(embed._client.encode)
    embed._client.encode = recorder
    state.update(
        embed=embed,
        store=PGVector(
            embeddings=embed, collection_name=COLLECTION, connection=url, use_jsonb=True
        ),
        records=records,
        splitter=splitter,
        recorder=recorder,
        batch=message["batch"],
        db=db,
    )
    return {"model": model, "backend": "sentence-transformers (PyTorch)"}


def chunks(pages: list[corpus.Page]) -> list:
    from bs4 import BeautifulSoup
    from langchain_core.documents import Document

    return state["splitter"].split_documents(
        Document(
            page_content=BeautifulSoup(p.html, "html.parser").get_text("\n", strip=True),
            metadata={"source": str(p.id), "title": p.title},
        )
        for p in pages
    )


def chunk_texts(pages: list[corpus.Page], ids: list[int]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {str(i): [] for i in ids if any(p.id == i for p in pages)}
    for doc in chunks([p for p in pages if p.id in ids]):
        out[doc.metadata["source"]].append(doc.page_content)
    return out


def stored() -> dict[str, int]:
    import psycopg

    db = state["db"]
    with psycopg.connect(host=db["host"], port=db["port"], dbname=db["name"], user=db["user"]) as c:
        rows = c.execute(
            "SELECT cmetadata->>'source', count(*) FROM langchain_pg_embedding GROUP BY 1"
        ).fetchall()
    return {page: n for page, n in rows}


def ingest(message: dict) -> dict:
    from langchain_core.indexing import index

    edited = message.get("edited", [])
    pages = corpus.load(Path(message["corpus"]))
    before = chunk_texts(state.get("pages", []), edited)
    state["pages"] = pages
    out: dict = {}
    state["recorder"].take()
    with clock(out):
        out["result"] = index(
            chunks(pages),
            state["records"],
            state["store"],
            cleanup="incremental",
            source_id_key="source",
            key_encoder="sha256",
        )
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
        state["recorder"].original(texts, batch_size=state["batch"], normalize_embeddings=True)
    return out


def query(message: dict) -> dict:
    import torch

    questions, k = message["questions"], message["k"]
    torch.set_num_threads(1)  # one question at a time, one thread: as PressRAG's serving
    store = state["store"]
    time_each(lambda q: store.similarity_search(q, k=k), questions[:8])
    e2e = time_each(lambda q: store.similarity_search(q, k=k), questions)
    vectors = [state["embed"].embed_query(q) for q in questions]
    retrieval = time_each(lambda v: store.similarity_search_by_vector(v, k=k), vectors)
    state["recorder"].take()
    return {"e2e": timings(e2e), "retrieval": timings(retrieval)}


if __name__ == "__main__":
    serve({"setup": setup, "ingest": ingest, "baseline": baseline, "query": query})
