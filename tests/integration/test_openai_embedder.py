"""The OpenAI embedder through the real `openai` client against a local fake of the API."""

from __future__ import annotations

import numpy as np
import pytest

from pressrag.resources.embedders.openai import MAX_INPUTS_PER_REQUEST, OpenAIEmbedder
from tests.support.fake_openai import FakeOpenAI


@pytest.fixture
def fake() -> FakeOpenAI:
    with FakeOpenAI(retry_after=0) as server:
        yield server


def _embedder(fake: FakeOpenAI, **kw: object) -> OpenAIEmbedder:
    return OpenAIEmbedder(api_key="sk-test-secret", base_url=fake.base_url, **kw)  # type: ignore[arg-type]


def test_vectors_have_the_configured_dimension_and_unit_length(fake: FakeOpenAI) -> None:
    embedder = _embedder(fake, model="text-embedding-3-small", dimensions=64)
    vectors = embedder.embed(["alpha", "beta", "alpha"])
    assert vectors.shape == (3, 64)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    assert embedder.model_id == "openai:text-embedding-3-small:64"
    body = fake.requests[-1].body
    assert body["model"] == "text-embedding-3-small" and body["dimensions"] == 64


def test_known_models_need_no_probe_and_unknown_ones_are_probed(fake: FakeOpenAI) -> None:
    assert _embedder(fake, model="text-embedding-3-small").dimension == 1536
    assert fake.requests == []  # the default dimension of a known model is not asked for
    probed = _embedder(fake, model="some-compatible-model")
    assert probed.dimension == fake.default_dimension and len(fake.requests) == 1


def test_large_inputs_are_split_within_the_api_limits(fake: FakeOpenAI) -> None:
    embedder = _embedder(fake, dimensions=8)
    texts = [f"text number {i}" for i in range(MAX_INPUTS_PER_REQUEST + 10)]
    vectors = embedder.embed(texts)
    sizes = [len(r.body["input"]) for r in fake.requests]
    assert sizes == [MAX_INPUTS_PER_REQUEST, 10]
    assert vectors.shape == (len(texts), 8)


@pytest.mark.parametrize("cue", ["rate_limit", "error"])
def test_429_and_5xx_are_retried_with_backoff(fake: FakeOpenAI, cue: str) -> None:
    """A rate limit (honouring Retry-After) or a server error is retried, then succeeds."""
    embedder = _embedder(fake, dimensions=8, max_retries=3)
    fake.enqueue(cue, cue)
    assert embedder.embed(["hello"]).shape == (1, 8)
    assert len(fake.requests) == 3


def test_giving_up_raises_without_leaking_the_key(fake: FakeOpenAI) -> None:
    embedder = _embedder(fake, dimensions=8, max_retries=1)
    fake.enqueue("error", "error", "error")
    with pytest.raises(Exception) as caught:
        embedder.embed(["hello"])
    assert "sk-test-secret" not in str(caught.value)
