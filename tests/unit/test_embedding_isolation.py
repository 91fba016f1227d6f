"""One document's bad input costs only that document; a dead embedder blames no document.

The real OpenAI embedder (official client) against the local fake API, which refuses any
request holding a poisoned input with a 400, as the API does for an input it will not embed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import dagster as dg
import pytest

from pressrag.assets.indexing.embeddings import DraftCounts, IsolatingEmbedder
from pressrag.resources.embedders.openai import OpenAIEmbedder
from tests.support.fake_openai import FakeOpenAI

POISON = "POISONED-INPUT"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after=0, refuse_inputs_containing=POISON) as server:
        yield server


def _embedder(fake: FakeOpenAI) -> OpenAIEmbedder:
    return OpenAIEmbedder(
        api_key="sk-test-isolation", base_url=fake.base_url, dimensions=8, max_retries=0
    )


def _batch(docs: dict[int, list[str]]) -> tuple[dict[int, list[dict]], list[str], dict[str, str]]:
    """(drafts by document, missing hashes, text by hash) shaped as the asset reads them."""
    drafts: dict[int, list[dict]] = {}
    texts: dict[str, str] = {}
    for doc_id, chunk_texts in docs.items():
        rows = []
        for text in chunk_texts:
            digest = hashlib.sha256(text.encode()).hexdigest()
            texts[digest] = text
            rows.append({"content_hash": digest})
        drafts[doc_id] = rows
    return drafts, list(texts), texts


def test_a_failing_batch_is_retried_per_document_and_only_the_bad_one_fails(
    fake: FakeOpenAI,
) -> None:
    drafts, misses, texts = _batch(
        {
            1: ["Otters hold hands while they sleep.", "They use rocks as tools."],
            2: ["A chunk that is fine.", f"A chunk with {POISON} inside."],
            3: ["Badgers dig setts.", "They use rocks as tools."],  # shares a chunk with 1
        }
    )
    isolating = IsolatingEmbedder(_embedder(fake), lambda n: None)
    fresh, broken = isolating.embed_batch(drafts, misses, texts)
    assert set(broken) == {2}
    assert "400" in str(broken[2]) or "rejected" in str(broken[2])
    poisoned = {h for h, t in texts.items() if POISON in t}
    assert set(fresh) == set(misses) - poisoned - {drafts[2][0]["content_hash"]}
    assert all(v.shape == (8,) for v in fresh.values())
    # One batch call, then one per document with texts still missing.
    assert len(fake.requests) == 4


def test_an_embedder_that_fails_on_everything_fails_the_run_and_blames_nobody(
    fake: FakeOpenAI,
) -> None:
    drafts, misses, texts = _batch({1: ["Otters."], 2: ["Badgers."]})
    isolating = IsolatingEmbedder(_embedder(fake), lambda n: None)
    fake.enqueue("error", "error", "error", "error")  # batch, two documents, the probe
    with pytest.raises(dg.Failure, match="fails on every input"):
        isolating.embed_batch(drafts, misses, texts)
    assert len(fake.requests) == 4


def test_a_single_poisoned_document_is_blamed_once_the_probe_succeeds(fake: FakeOpenAI) -> None:
    """Alone in its batch, a bad document cannot be told from a dead embedder by the batch:
    the probe text tells them apart."""
    drafts, misses, texts = _batch({7: [f"{POISON} only."]})
    isolating = IsolatingEmbedder(_embedder(fake), lambda n: None)
    fresh, broken = isolating.embed_batch(drafts, misses, texts)
    assert fresh == {} and set(broken) == {7}
    assert fake.requests[-1].body["input"] == ["probe"]


def test_draft_counts_reuse_the_chunkers_counts(fake: FakeOpenAI) -> None:
    """The usage meter's token counts come from the drafts; unknown texts are counted."""
    model = _embedder(fake)
    counts = DraftCounts(model)
    counts.remember({1: [{"embed_text": "Otters sleep.", "token_count": 99}]})
    assert counts.count_tokens("Otters sleep.") == 99
    assert counts.count_tokens("Badgers dig.") == model.count_tokens("Badgers dig.")
    assert counts.embed(["Badgers dig."]).shape == (1, model.dimension)
