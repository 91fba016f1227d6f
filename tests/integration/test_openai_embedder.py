"""The OpenAI embedder through the real `openai` client against a local fake of the API."""

from __future__ import annotations

import numpy as np
import openai
import pytest

from pressrag.resources.embedders.openai import (
    MAX_INPUTS_PER_REQUEST,
    OpenAIEmbedder,
    decoded_vectors,
)
from tests.support.fake_openai import FakeOpenAI, embedding, embedding_base64


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


def test_the_fake_serves_the_vectors_it_is_given() -> None:
    """A fake given its own `vectors` (bench/scale.py's word vectors) answers with exactly
    those, through the real client, in input order."""
    table = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    table /= np.linalg.norm(table, axis=1, keepdims=True)

    def vectors(texts: list[str], dimension: int) -> np.ndarray:
        return table[[int(t) for t in texts]][:, :dimension]

    with FakeOpenAI(vectors=vectors) as fake:
        got = _embedder(fake, dimensions=8).embed(["2", "0", "1", "2"])
    assert np.allclose(got, table[[2, 0, 1, 2]], atol=1e-6)


def test_vectors_the_fake_cannot_make_are_a_clear_client_error() -> None:
    def four_dimensions(texts: list[str], dimension: int) -> np.ndarray:
        raise ValueError(f"these vectors have 4 dimensions, not {dimension}")

    with FakeOpenAI(vectors=four_dimensions) as fake:
        with pytest.raises(openai.BadRequestError, match="4 dimensions, not 8"):
            _embedder(fake, dimensions=8).embed(["hello"])
        assert len(fake.requests) == 1  # a 400 is not retried


def test_giving_up_raises_without_leaking_the_key(fake: FakeOpenAI) -> None:
    embedder = _embedder(fake, dimensions=8, max_retries=1)
    fake.enqueue("error", "error", "error")
    with pytest.raises(Exception) as caught:
        embedder.embed(["hello"])
    assert "sk-test-secret" not in str(caught.value)


@pytest.mark.parametrize("floats_only", [False, True], ids=["base64", "floats"])
def test_vectors_are_the_endpoints_whether_base64_or_floats(floats_only: bool) -> None:
    """Vectors are asked for in base64 and decoded straight into numpy; an endpoint that
    answers with lists of floats anyway gives the same vectors."""
    texts = ["zebra", "apple", "mango"]
    with FakeOpenAI(floats_only=floats_only) as fake:
        vectors = _embedder(fake, dimensions=16).embed(texts)
        assert fake.requests[-1].body["encoding_format"] == "base64"
    expected = np.asarray([embedding(t, 16) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert vectors.dtype == np.float32 and np.allclose(vectors, expected, atol=1e-6)


def _item(index: int, vector: object) -> dict:
    return {"object": "embedding", "index": index, "embedding": vector}


def test_decoded_vectors_follow_the_indexes_not_the_order() -> None:
    body = {"data": [_item(1, embedding_base64("b", 4)), _item(0, embedding_base64("a", 4))]}
    vectors = decoded_vectors(body, 2)
    assert np.allclose(vectors[0], embedding("a", 4)) and np.allclose(vectors[1], embedding("b", 4))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": "nope"}, "returned no vectors for 2 inputs"),
        ({"data": [_item(0, [0.1, 0.2])]}, "returned 1 vectors for 2 inputs"),
        ({"data": [_item(0, [0.1, 0.2]), {"index": 1}]}, "malformed vectors (KeyError)"),
        ({"data": [_item(0, "not base64!"), _item(1, [0.1])]}, "malformed vectors"),
        ({"data": [_item(0, [0.1, 0.2]), _item(1, [0.1])]}, "malformed vectors (ValueError)"),
        ({"data": [_item(0, [0.1, 0.2]), _item(1, None)]}, "malformed vectors"),
    ],
    ids=["no-data", "too-few", "no-embedding", "bad-base64", "ragged", "null"],
)
def test_a_malformed_response_is_a_clear_error(body: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        decoded_vectors(body, 2)
    assert message in str(caught.value)
