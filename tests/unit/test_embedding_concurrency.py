"""Indexing keeps several requests in flight to a remote embeddings endpoint, and gets the
same vectors in the same order as one request at a time; so does the retry of a failed
batch one document at a time.

The real OpenAI embedder (official client) against the local fake API, which answers each
embeddings request after a round trip's latency and counts the requests it answers at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from pressrag.assets.indexing.embeddings import (
    DOCS_PER_BATCH,
    TEXTS_PER_CALL,
    IsolatingEmbedder,
    embed_batch_size,
    embed_by_length,
)
from pressrag.resources.dagster_resources import EmbedderResource
from pressrag.resources.embedders.openai import OpenAIEmbedder
from pressrag.resources.settings import Settings
from tests.support.fake_openai import FakeOpenAI

POISON = "POISONED-INPUT"
# Five slices of TEXTS_PER_CALL, of different lengths so that sorting by length reorders them.
TEXTS = [f"text {i} " + "word " * (i % 37) for i in range(4 * TEXTS_PER_CALL + 10)]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(embeddings_latency=0.3, refuse_inputs_containing=POISON) as server:
        yield server


def _embedder(fake: FakeOpenAI, calls: int) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        api_key="sk-test-concurrency",
        base_url=fake.base_url,
        dimensions=8,
        max_retries=0,
        concurrent_calls=calls,
    )


def _embedding_requests(fake: FakeOpenAI) -> int:
    return sum(r.path.endswith("/embeddings") for r in fake.requests)


def test_calls_overlap_and_the_rows_keep_the_texts_order(fake: FakeOpenAI) -> None:
    progress: list[int] = []
    at_once = embed_by_length(_embedder(fake, 4), TEXTS, progress.append)
    assert fake.max_embeddings_in_flight == 4
    assert sum(progress) == len(TEXTS)

    with FakeOpenAI(embeddings_latency=0.05) as sequential_fake:
        one_by_one = embed_by_length(_embedder(sequential_fake, 1), TEXTS, lambda n: None)
        assert sequential_fake.max_embeddings_in_flight == 1
    np.testing.assert_array_equal(at_once, one_by_one)
    # Row i is text i's own vector (the fake's vectors are seeded by the text).
    np.testing.assert_array_equal(at_once[7], _embedder(fake, 1).embed([TEXTS[7]])[0])


def test_a_failed_call_raises_and_the_slices_not_yet_sent_are_not_sent(fake: FakeOpenAI) -> None:
    texts = [POISON, *TEXTS]  # the shortest text: the first slice fails
    with pytest.raises(Exception, match="input rejected"):
        embed_by_length(_embedder(fake, 2), texts, lambda n: None)
    slices = -(-len(texts) // TEXTS_PER_CALL)
    assert _embedding_requests(fake) < slices


def test_the_configured_concurrency_reaches_the_indexing_embedder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRESSRAG_OPENAI_API_KEY", "sk-test-concurrency")
    settings = Settings(
        embedder="openai",
        openai_embed_dimensions=8,
        openai_base_url="http://127.0.0.1:9/v1",
        openai_embed_concurrency=3,
    )
    embedder = EmbedderResource.from_settings(settings, preload=False).get()
    assert embedder.concurrent_calls == 3
    with pytest.raises(ValueError, match="openai_embed_concurrency"):
        Settings(openai_embed_concurrency=0)


def _drafts(texts_by_doc: dict[int, list[str]]) -> tuple[dict[int, list[dict]], dict[str, str]]:
    """Chunk drafts as the embed step reads them (hash → text by the text itself)."""
    drafts = {
        doc: [{"content_hash": f"h:{t}", "embed_text": t, "token_count": 1} for t in texts]
        for doc, texts in texts_by_doc.items()
    }
    texts = {r["content_hash"]: r["embed_text"] for rows in drafts.values() for r in rows}
    return drafts, texts


@pytest.mark.parametrize("calls", [1, 4])
def test_a_failed_batch_is_embedded_again_a_document_at_a_time(
    fake: FakeOpenAI, calls: int
) -> None:
    """One poisoned text fails its batch; each document is then embedded on its own (several
    at once when the endpoint takes several calls): only the documents holding the poison
    fail, whichever of them comes first, and every other document gets its own vectors."""
    by_doc = {doc: [f"doc {doc} para {p}" for p in range(2)] for doc in range(1, 9)}
    by_doc[3].append(POISON)
    by_doc[6].append(POISON)  # the same text, so the same hash, in a second document
    by_doc[7].append("doc 1 para 0")  # a good text two documents share
    drafts, texts = _drafts(by_doc)
    progress: list[int] = []
    isolating = IsolatingEmbedder(_embedder(fake, calls), progress.append)

    fresh, broken = isolating.embed_batch(drafts, list(texts), texts)

    assert set(broken) == {3, 6}
    assert all("input rejected" in str(exc) for exc in broken.values())
    good = {
        h
        for doc, rows in drafts.items()
        if doc not in broken
        for h in (r["content_hash"] for r in rows)
    }
    assert set(fresh) == good
    reference = _embedder(fake, 1)
    for h in ("h:doc 1 para 0", "h:doc 8 para 1"):
        np.testing.assert_array_equal(fresh[h], reference.embed([texts[h]])[0])
    assert fake.max_embeddings_in_flight == calls
    assert sum(progress) >= len(good)


def test_the_embed_step_reads_a_batch_of_documents_for_each_call_in_flight(
    fake: FakeOpenAI,
) -> None:
    """256 documents are ~1,200 texts, five slices: with four calls in flight each batch would
    be two rounds, the second one slice alone; four batches' worth keeps all four busy."""
    assert embed_batch_size(_embedder(fake, 4)) == 4 * DOCS_PER_BATCH
    assert embed_batch_size(_embedder(fake, 1)) == DOCS_PER_BATCH
