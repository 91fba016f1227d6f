"""The question embedder as a chain of providers in ONE embedding space (issue 13, item 4).

A question's vector is only comparable with the index's if the index's model made it, so,
unlike the answerer's chain, this one never falls back to "some other model": its providers
are the configured embedder (`PRESSRAG_EMBEDDER`, the index's model) and, when
`PRESSRAG_SECONDARY_EMBED_MODEL` or `PRESSRAG_SECONDARY_EMBED_BASE_URL` is set, a second
OpenAI-compatible endpoint serving the same model and dimensions. A secondary whose model id
differs from the primary's is refused at start (`ConfigError`, one line naming the variables).
The local model is in the chain only when it is the index's model, i.e. as the primary.

Each provider keeps its own timeout and retries (`OpenAIEmbedder`: the SDK's errors,
`Retry-After` honoured) and a `CircuitBreaker` (the answerer's, with the same settings): a
provider that failed `breaker_failures` times in a row is skipped for
`breaker_cooldown_seconds`, then one request may try it again. Unlike the answerer's chain, an
open last provider is skipped too: the caller has a cheap way out (serving searches keywords
only), so a dead endpoint costs one timeout per cooldown, never one per question.

Every attempt is reported (`Attempt`: provider, model, outcome `ok`, `upstream_timeout`,
`upstream_rate_limited` or `upstream_error`, seconds) so the caller can write one ledger row
per attempt for the sites whose questions it embedded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pressrag.resources.embedders import Embedder, EmbeddingUnavailable
from pressrag.resources.errors import ConfigError
from pressrag.resources.gateway.failover import CircuitBreaker
from pressrag.resources.gateway.metering import provider_of
from pressrag.resources.settings import Settings

log = logging.getLogger(__name__)

SECONDARY = "secondary"


@dataclass
class EmbeddingProvider:
    name: str  # in the ledger and in responses: "openai", "local", "secondary"
    embedder: Embedder
    breaker: CircuitBreaker


@dataclass(frozen=True)
class Attempt:
    """One call of one provider, as the ledger records it."""

    provider: str
    model: str
    outcome: str
    seconds: float


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray
    provider: str  # who made the vectors
    attempts: tuple[Attempt, ...]  # the failed ones first, then the one that succeeded


class ChainUnavailable(EmbeddingUnavailable):
    """No provider could embed; `attempts` are the calls made (none when every breaker was
    open)."""

    def __init__(self, message: str, attempts: tuple[Attempt, ...]) -> None:
        super().__init__(message)
        self.attempts = attempts


def outcome_of(exc: Exception) -> str:
    """The ledger outcome of a failed call, by the `openai` SDK's error class names (the
    answerer's conventions), without importing the SDK."""
    name = type(exc).__name__
    if "Timeout" in name:
        return "upstream_timeout"
    if "RateLimit" in name:
        return "upstream_rate_limited"
    return "upstream_error"


class EmbedderChain:
    """An `Embedder` (same model id, dimension and token counting as its primary) that tries
    its providers in order; `embed_with_failover` also says who embedded and what was tried."""

    def __init__(self, providers: Sequence[EmbeddingProvider]) -> None:
        if not providers:
            raise ValueError("a chain needs at least one provider")
        first = providers[0].embedder
        for provider in providers[1:]:
            other = provider.embedder
            if (other.model_id, other.dimension) != (first.model_id, first.dimension):
                raise ConfigError(
                    f"embedding provider {provider.name} embeds with {other.model_id} "
                    f"({other.dimension} dimensions), not the index's {first.model_id}"
                )
        self.providers = list(providers)
        self.model_id = first.model_id
        self.dimension = first.dimension
        self.max_tokens = first.max_tokens
        self.concurrent_calls = first.concurrent_calls

    @classmethod
    def single(cls, embedder: Embedder, breaker: CircuitBreaker | None = None) -> EmbedderChain:
        """A chain of one provider (tests, tools): the embedder with a breaker."""
        name = provider_of(embedder.model_id)
        return cls([EmbeddingProvider(name, embedder, breaker or CircuitBreaker())])

    @property
    def primary(self) -> Embedder:
        return self.providers[0].embedder

    def count_tokens(self, text: str) -> int:
        return self.primary.count_tokens(text)

    def breakers(self) -> dict[str, str]:
        return {p.name: p.breaker.state for p in self.providers}

    def names(self) -> list[str]:
        return [p.name for p in self.providers]

    def embed_with_failover(self, texts: Sequence[str]) -> Embedded:
        """The texts' vectors from the first provider that can make them; raises
        `ChainUnavailable` (with the attempts) when none can."""
        attempts: list[Attempt] = []
        for provider in self.providers:
            if not provider.breaker.allow():
                continue
            started = time.perf_counter()
            try:
                vectors = provider.embedder.embed(texts)
            except Exception as exc:
                provider.breaker.failure()
                attempts.append(self._attempt(provider, outcome_of(exc), started))
                log.warning(
                    "question embedding provider %s failed (%s: %s)",
                    provider.name,
                    attempts[-1].outcome,
                    type(exc).__name__,
                )
                continue
            provider.breaker.success()
            attempts.append(self._attempt(provider, "ok", started))
            return Embedded(vectors, provider.name, tuple(attempts))
        reason = "every provider failed" if attempts else "every provider's breaker is open"
        raise ChainUnavailable(f"no provider could embed the question ({reason})", tuple(attempts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """`Embedder.embed` through the chain (the extractive answerer's sentences)."""
        return self.embed_with_failover(texts).vectors

    @staticmethod
    def _attempt(provider: EmbeddingProvider, outcome: str, started: float) -> Attempt:
        return Attempt(
            provider.name, provider.embedder.model_id, outcome, time.perf_counter() - started
        )


def make_embedding_chain(settings: Settings, primary: Embedder) -> EmbedderChain:
    """The chain the settings describe (see the module's docstring); refuses a secondary
    that would embed in another space."""

    def breaker() -> CircuitBreaker:
        return CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_seconds)

    providers = [EmbeddingProvider(provider_of(primary.model_id), primary, breaker())]
    secondary = secondary_embedder(settings, primary)
    if secondary is not None:
        providers.append(EmbeddingProvider(SECONDARY, secondary, breaker()))
    return EmbedderChain(providers)


def _mismatch(settings: Settings, found: str, primary: Embedder) -> ConfigError:
    return ConfigError(
        f"the secondary question embedder would embed with {found}, but the index's embedder "
        f"is {primary.model_id}: set PRESSRAG_SECONDARY_EMBED_MODEL and "
        "PRESSRAG_SECONDARY_EMBED_DIMENSIONS to the values of PRESSRAG_OPENAI_EMBED_MODEL "
        f"({settings.openai_embed_model}) and PRESSRAG_OPENAI_EMBED_DIMENSIONS "
        f"({settings.openai_embed_dimensions or 'unset'}), or unset them"
    )


def secondary_embedder(settings: Settings, primary: Embedder) -> Embedder | None:
    """The secondary endpoint's embedder, or None when none is configured."""
    if not (settings.secondary_embed_model or settings.secondary_embed_base_url):
        return None
    if settings.embedder != "openai":
        raise ConfigError(
            "PRESSRAG_SECONDARY_EMBED_MODEL / PRESSRAG_SECONDARY_EMBED_BASE_URL are set, but "
            f"the index's embedder is {primary.model_id} (PRESSRAG_EMBEDDER="
            f"{settings.embedder}): an OpenAI-compatible endpoint cannot embed in its space; "
            "unset them"
        )
    model = settings.secondary_embed_model or settings.openai_embed_model
    dimensions = settings.secondary_embed_dimensions or settings.openai_embed_dimensions
    if model != settings.openai_embed_model:
        raise _mismatch(settings, f"{model} ({dimensions or 'default'} dimensions)", primary)
    base_url = settings.secondary_embed_base_url or settings.secondary_base_url
    if not base_url:
        raise ConfigError(
            "PRESSRAG_SECONDARY_EMBED_MODEL is set but no endpoint is: set "
            "PRESSRAG_SECONDARY_EMBED_BASE_URL (or PRESSRAG_SECONDARY_BASE_URL)"
        )
    from pressrag.resources.embedders.openai import OpenAIEmbedder

    key = settings.secondary_embed_api_key or settings.secondary_api_key or settings.openai_api_key
    embedder = OpenAIEmbedder(
        api_key=key.get_secret_value() if key else "",
        model=model,
        dimensions=dimensions,
        base_url=base_url,
        timeout=settings.secondary_timeout,
        max_retries=settings.secondary_max_retries,
        known_dimension=primary.dimension,
    )
    if embedder.model_id != primary.model_id:
        raise _mismatch(settings, embedder.model_id, primary)
    return embedder
