"""The answerer as a chain of providers with circuit breakers (issue 13, item 4).

The chain is the configured answerer (`openai`: the OpenAI-compatible endpoint of
`PRESSRAG_OPENAI_*`), then an optional secondary OpenAI-compatible endpoint
(`PRESSRAG_SECONDARY_*`), then the extractive answerer on the local model (unless
`PRESSRAG_ANSWER_LOCAL_FALLBACK=false`). Each provider keeps its own timeout and its own
retries (`OpenAIAnswerer`: the SDK's errors, `Retry-After` honoured); when they are spent, the
chain moves on. Every attempt is a ledger row of the site (purpose `answer` or `rewrite`, the
provider's name, outcome `ok`, `upstream_timeout`, `upstream_rate_limited`, `upstream_error`).

A provider that failed `breaker_failures` times in a row is skipped for
`breaker_cooldown_seconds` (open); then one request may try it (half-open): success closes the
breaker, failure opens it again. So a dead endpoint costs one timeout per cooldown, not one per
question.

A stream that breaks before its first piece of text falls over silently. One that breaks after
some text was sent cannot take it back: the chain yields `Reset(provider)` (the SSE `reset`
event: the client drops what it showed) and the next provider answers from the start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from pressrag.resources.answerers.base import (
    Answer,
    Answerer,
    AnswerEvent,
    AnswerUnavailable,
    Delta,
    Final,
    Passage,
    Question,
    Reset,
)
from pressrag.resources.answerers.followup import Rewrite, Turn
from pressrag.resources.embedders import Embedder
from pressrag.resources.settings import Settings
from pressrag.resources.usage import ModelCall, NoUsageRecorder, UsageRecorder

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failures: int = 3,
        cooldown_seconds: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial = False  # a half-open request is under way
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._clock() - self._opened_at >= self.cooldown_seconds:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a request go to this provider now? (Half-open: one at a time.)"""
        with self._lock:
            state = self.state
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._trial:
                self._trial = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._trial or self._consecutive >= self.failures:
                self._opened_at = self._clock()
            self._trial = False


@dataclass
class Provider:
    name: str  # in the ledger and in responses: "openai", "secondary", "local"
    answerer: Answerer
    breaker: CircuitBreaker

    @property
    def model(self) -> str:
        return str(getattr(self.answerer, "model", self.answerer.mode))


def _kind(exc: Exception) -> str:
    return exc.kind if isinstance(exc, AnswerUnavailable) else "upstream_error"


class AnswererChain:
    """An `Answerer` trying its providers in order; `provider` on each answer says who
    answered."""

    def __init__(self, providers: Sequence[Provider], recorder: UsageRecorder | None = None):
        if not providers:
            raise ValueError("a chain needs at least one provider")
        self.providers = list(providers)
        self.recorder = recorder or NoUsageRecorder()
        self.mode = self.providers[0].answerer.mode

    @property
    def identity(self) -> str:
        """What answers when all is well (the answer cache's key part)."""
        first = self.providers[0]
        return f"{first.name}:{first.model}"

    def breakers(self) -> dict[str, str]:
        return {p.name: p.breaker.state for p in self.providers}

    # ------------------------------------------------------------------ helpers
    def _record(
        self,
        provider: Provider,
        site_id: str,
        purpose: str,
        started: float,
        outcome: str,
        prompt: int = 0,
        completion: int = 0,
    ) -> None:
        if not site_id:
            return
        try:
            self.recorder.record(
                ModelCall(
                    site_id=site_id,
                    purpose=purpose,
                    provider=provider.name,
                    model=provider.model,
                    input_tokens=prompt,
                    output_tokens=completion,
                    latency_ms=round((time.perf_counter() - started) * 1000, 3),
                    outcome=outcome,
                )
            )
        except Exception:  # counting must never break the answer it counts
            log.warning("recording an %s attempt failed", purpose, exc_info=True)

    def _available(self) -> list[Provider]:
        """The providers to try now, in order; the last one even when its breaker is open
        (an answer from a tripped provider beats none)."""
        allowed = [p for p in self.providers if p.breaker.allow()]
        return allowed or self.providers[-1:]

    def _failed(self, provider: Provider, exc: Exception) -> None:
        provider.breaker.failure()
        log.warning(
            "answer provider %s failed (%s); %s",
            provider.name,
            _kind(exc),
            "trying the next" if provider is not self.providers[-1] else "no more providers",
        )

    # ------------------------------------------------------------------ Answerer
    def answer(
        self, question: Question, passages: Sequence[Passage], *, site_id: str = ""
    ) -> Answer:
        error: Exception | None = None
        for provider in self._available():
            started = time.perf_counter()
            try:
                answer = provider.answerer.answer(question, passages)
            except Exception as exc:
                self._record(provider, site_id, "answer", started, _kind(exc))
                self._failed(provider, exc)
                error = exc
                continue
            provider.breaker.success()
            self._record(
                provider,
                site_id,
                "answer",
                started,
                "ok",
                answer.prompt_tokens,
                answer.completion_tokens,
            )
            return replace(answer, provider=provider.name)
        raise _as_unavailable(error)

    def stream(
        self, question: Question, passages: Sequence[Passage], *, site_id: str = ""
    ) -> Iterator[AnswerEvent]:
        error: Exception | None = None
        for provider in self._available():
            started = time.perf_counter()
            sent = False
            try:
                for event in provider.answerer.stream(question, passages):
                    if isinstance(event, Final):
                        provider.breaker.success()
                        self._record(
                            provider,
                            site_id,
                            "answer",
                            started,
                            "ok",
                            event.prompt_tokens,
                            event.completion_tokens,
                        )
                        yield replace(event, provider=provider.name)
                        return
                    sent = sent or isinstance(event, Delta)
                    yield event
                raise AnswerUnavailable("upstream_error", "the answer ended early")
            except GeneratorExit:  # the client went away: not the provider's fault
                raise
            except Exception as exc:
                self._record(provider, site_id, "answer", started, _kind(exc))
                self._failed(provider, exc)
                error = exc
                if sent:
                    yield Reset(provider.name)
        raise _as_unavailable(error)

    def rewrite(self, question: str, history: Sequence[Turn], *, site_id: str = "") -> Rewrite:
        """The first available provider's rewrite (each answerer falls back to the follow-up
        rule by itself when its model fails)."""
        provider = self._available()[0]
        started = time.perf_counter()
        rewrite = provider.answerer.rewrite(question, history)
        if rewrite.prompt_tokens or rewrite.completion_tokens:  # a model was asked
            self._record(
                provider,
                site_id,
                "rewrite",
                started,
                "ok",
                rewrite.prompt_tokens,
                rewrite.completion_tokens,
            )
        return rewrite


def _as_unavailable(error: Exception | None) -> AnswerUnavailable:
    if isinstance(error, AnswerUnavailable):
        return error
    return AnswerUnavailable("upstream_error", "no answer provider could answer")


def make_answer_chain(
    settings: Settings, embedder: Embedder, *, max_tokens: int, recorder: UsageRecorder
) -> AnswererChain:
    """The chain the settings describe (see the module's docstring)."""
    from pressrag.resources.answerers.extractive import ExtractiveAnswerer

    def breaker() -> CircuitBreaker:
        return CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown_seconds)

    providers: list[Provider] = []
    if settings.answerer == "openai":
        from pressrag.resources.answerers.openai import OpenAIAnswerer

        primary = OpenAIAnswerer.from_settings(settings, max_tokens=max_tokens)
        providers.append(Provider("openai", primary, breaker()))
        if settings.secondary_base_url:
            key = settings.secondary_api_key or settings.openai_api_key
            secondary = OpenAIAnswerer(
                api_key=key.get_secret_value() if key else "",
                model=settings.secondary_chat_model or settings.openai_chat_model,
                base_url=settings.secondary_base_url,
                timeout=settings.secondary_timeout,
                max_retries=settings.secondary_max_retries,
                max_tokens=max_tokens,
            )
            providers.append(Provider("secondary", secondary, breaker()))
        if not settings.answer_local_fallback:
            return AnswererChain(providers, recorder)
    providers.append(Provider("local", ExtractiveAnswerer(embedder), breaker()))
    return AnswererChain(providers, recorder)
