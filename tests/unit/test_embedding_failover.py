"""The question embedder's chain: order, outcomes, breakers, and the refusal of a secondary that
would embed in another space — with embedders that fail on purpose, no network."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from pressrag.resources.errors import ConfigError
from pressrag.resources.gateway.embedding_failover import (
    ChainUnavailable,
    EmbedderChain,
    EmbeddingProvider,
    make_embedding_chain,
)
from pressrag.resources.gateway.failover import CircuitBreaker
from pressrag.resources.settings import Settings


class APITimeoutError(Exception):
    """Named like the `openai` SDK's, which is all the chain looks at."""


class RateLimitError(Exception):
    pass


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """An embedder that raises the queued errors, then embeds (a row of `value`s)."""

    def __init__(self, value: float, model_id: str = "openai:m:4", dimension: int = 4) -> None:
        self.value = value
        self.model_id = model_id
        self.dimension = dimension
        self.max_tokens = 256
        self.concurrent_calls = 1
        self.errors: list[Exception] = []
        self.calls = 0

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return np.full((len(texts), self.dimension), self.value, dtype=np.float32)


def chain_of(*embedders: Scripted, clock: Clock, failures: int = 2) -> EmbedderChain:
    names = ["openai", "secondary", "third"]
    return EmbedderChain(
        [
            EmbeddingProvider(name, e, CircuitBreaker(failures, 10.0, clock=clock))
            for name, e in zip(names, embedders, strict=False)
        ]
    )


def test_a_failing_primary_hands_over_and_every_attempt_is_reported() -> None:
    primary, secondary = Scripted(1.0), Scripted(2.0)
    chain = chain_of(primary, secondary, clock=Clock())
    for error, outcome in [
        (APITimeoutError(), "upstream_timeout"),
        (RateLimitError(), "upstream_rate_limited"),
        (RuntimeError(), "upstream_error"),
    ]:
        primary.errors.append(error)
        embedded = chain.embed_with_failover(["q"])
        assert embedded.provider == "secondary" and embedded.vectors[0, 0] == 2.0
        assert [(a.provider, a.outcome) for a in embedded.attempts] == [
            ("openai", outcome),
            ("secondary", "ok"),
        ]
        assert chain.embed_with_failover(["q"]).provider == "openai"  # closes it again
    assert all(a.model == "openai:m:4" for a in embedded.attempts)


def test_the_breaker_skips_a_dead_provider_until_its_cooldown_then_tries_once() -> None:
    clock = Clock()
    primary, secondary = Scripted(1.0), Scripted(2.0)
    chain = chain_of(primary, secondary, clock=clock)
    primary.errors = [RuntimeError()] * 3
    chain.embed_with_failover(["a"])
    chain.embed_with_failover(["b"])  # second failure in a row: open
    assert chain.breakers() == {"openai": "open", "secondary": "closed"}
    calls = primary.calls
    for _ in range(5):
        assert chain.embed_with_failover(["c"]).attempts[0].provider == "secondary"
    assert primary.calls == calls
    clock.now += 10.0  # half-open: one trial, which fails and opens it again at once
    assert chain.embed_with_failover(["d"]).provider == "secondary"
    assert primary.calls == calls + 1 and chain.breakers()["openai"] == "open"
    clock.now += 10.0
    assert chain.embed_with_failover(["e"]).provider == "openai"
    assert chain.breakers()["openai"] == "closed"


def test_with_every_breaker_open_nothing_is_tried_and_the_chain_says_so() -> None:
    clock = Clock()
    primary, secondary = Scripted(1.0), Scripted(2.0)
    chain = chain_of(primary, secondary, clock=clock, failures=1)
    primary.errors, secondary.errors = [RuntimeError()], [APITimeoutError()]
    with pytest.raises(ChainUnavailable) as failed:
        chain.embed_with_failover(["q"])
    assert [a.outcome for a in failed.value.attempts] == ["upstream_error", "upstream_timeout"]
    with pytest.raises(ChainUnavailable) as skipped:
        chain.embed(["q"])  # the Embedder interface raises the same
    assert skipped.value.attempts == () and "breaker" in str(skipped.value)
    assert (primary.calls, secondary.calls) == (1, 1)


def test_providers_of_different_spaces_never_form_a_chain() -> None:
    with pytest.raises(ConfigError, match="openai:other:4"):
        chain_of(Scripted(1.0), Scripted(2.0, model_id="openai:other:4"), clock=Clock())


def _settings(**values: object) -> Settings:
    base = {
        "embedder": "openai",
        "openai_api_key": "sk-test",
        "openai_embed_model": "text-embedding-3-small",
        "openai_embed_dimensions": 64,
        "secondary_base_url": "http://127.0.0.1:9/v1",
    }
    return Settings(_env_file=None, **{**base, **values})  # type: ignore[arg-type]


PRIMARY_ID = "openai:text-embedding-3-small:64"


def test_the_secondary_embeds_with_the_index_model_only_when_asked_to() -> None:
    primary = Scripted(1.0, model_id=PRIMARY_ID, dimension=64)
    assert make_embedding_chain(_settings(), primary).names() == ["openai"]  # chat only
    chain = make_embedding_chain(_settings(secondary_embed_model="text-embedding-3-small"), primary)
    assert chain.names() == ["openai", "secondary"]
    assert chain.providers[1].embedder.model_id == PRIMARY_ID


@pytest.mark.parametrize(
    "values",
    [
        {"secondary_embed_model": "text-embedding-3-large"},
        {"secondary_embed_model": "text-embedding-3-small", "secondary_embed_dimensions": 128},
    ],
)
def test_a_secondary_of_another_space_is_refused_naming_the_variables(values: dict) -> None:
    primary = Scripted(1.0, model_id=PRIMARY_ID, dimension=64)
    with pytest.raises(ConfigError) as refused:
        make_embedding_chain(_settings(**values), primary)
    message = str(refused.value)
    assert "\n" not in message and PRIMARY_ID in message
    for name in ("PRESSRAG_SECONDARY_EMBED_MODEL", "PRESSRAG_OPENAI_EMBED_MODEL"):
        assert name in message


def test_a_secondary_for_a_local_index_or_without_an_endpoint_is_refused() -> None:
    local = Scripted(1.0, model_id="local:sentence-transformers/all-MiniLM-L6-v2", dimension=384)
    with pytest.raises(ConfigError, match="PRESSRAG_EMBEDDER=local"):
        make_embedding_chain(_settings(embedder="local", secondary_embed_model="x"), local)
    primary = Scripted(1.0, model_id=PRIMARY_ID, dimension=64)
    with pytest.raises(ConfigError, match="PRESSRAG_SECONDARY_EMBED_BASE_URL"):
        make_embedding_chain(
            _settings(secondary_base_url=None, secondary_embed_model="text-embedding-3-small"),
            primary,
        )
