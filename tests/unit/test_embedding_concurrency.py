"""Indexing keeps several requests in flight to a remote embeddings endpoint, and gets the
same vectors in the same order as one request at a time.

The real OpenAI embedder (official client) against the local fake API, which answers each
embeddings request after a round trip's latency and counts the requests it answers at once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from pressrag.assets.indexing.embeddings import TEXTS_PER_CALL, embed_by_length
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
