"""The answerer chain's circuit breaker and order, with answerers that fail on purpose."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from pressrag.resources.answerers import (
    Answer,
    AnswerUnavailable,
    Delta,
    Final,
    Passage,
    Question,
    Reset,
    Rewrite,
    Turn,
    collect,
)
from pressrag.resources.gateway.failover import AnswererChain, CircuitBreaker, Provider
from pressrag.resources.usage import ModelCall


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Scripted:
    """An answerer whose calls fail while `failing`, and whose stream can break after a delta."""

    mode = "openai"

    def __init__(self, name: str) -> None:
        self.name = name
        self.failing = False
        self.break_stream = False
        self.calls = 0

    def answer(self, question: Question, passages: Sequence[Passage]) -> Answer:
        return collect(self.stream(question, passages))

    def stream(self, question: Question, passages: Sequence[Passage]) -> Iterator[Delta | Final]:
        self.calls += 1
        if self.failing:
            raise AnswerUnavailable("upstream_timeout", "no answer in time")
        yield Delta(f"from {self.name} ")
        if self.break_stream:
            raise ConnectionError("the stream broke")
        yield Final([1], "openai", 3, 2)

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        return Rewrite(question, rewritten=False)


class Ledger:
    def __init__(self) -> None:
        self.calls: list[ModelCall] = []

    def record(self, call: ModelCall) -> None:
        self.calls.append(call)


def chain_of(*names: str, clock: Clock) -> tuple[AnswererChain, list[Scripted], Ledger]:
    answerers = [Scripted(n) for n in names]
    ledger = Ledger()
    providers = [Provider(a.name, a, CircuitBreaker(2, 10.0, clock=clock)) for a in answerers]
    return AnswererChain(providers, ledger), answerers, ledger


def test_breaker_opens_after_failures_in_a_row_and_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 10.0, clock=clock)
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 10.0
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()  # the trial failed: open again, for a whole cooldown
    assert breaker.state == "open"
    clock.now = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_the_chain_falls_over_records_each_attempt_and_names_the_provider() -> None:
    clock = Clock()
    chain, (first, _), ledger = chain_of("openai", "local", clock=clock)
    first.failing = True
    answer = chain.answer(Question("q"), [], site_id="s")
    assert answer.provider == "local" and answer.text == "from local"
    assert [(c.provider, c.outcome) for c in ledger.calls] == [
        ("openai", "upstream_timeout"),
        ("local", "ok"),
    ]
    assert ledger.calls[1].input_tokens == 3 and ledger.calls[1].output_tokens == 2
    chain.answer(Question("q"), [], site_id="s")  # second failure in a row: open
    assert chain.breakers()["openai"] == "open"
    calls = first.calls
    assert chain.answer(Question("q"), [], site_id="s").provider == "local"
    assert first.calls == calls  # not asked while open


def test_a_stream_broken_after_text_is_reset_and_answered_by_the_next() -> None:
    chain, (first, _), _ = chain_of("openai", "secondary", clock=Clock())
    first.break_stream = True
    events = list(chain.stream(Question("q"), [], site_id="s"))
    assert events[0] == Delta("from openai ") and events[1] == Reset("openai")
    assert isinstance(events[-1], Final) and events[-1].provider == "secondary"
    assert collect(iter(events)).text == "from secondary"


def test_when_every_provider_fails_the_last_error_is_raised() -> None:
    chain, answerers, _ = chain_of("openai", "secondary", clock=Clock())
    for answerer in answerers:
        answerer.failing = True
    with pytest.raises(AnswerUnavailable) as raised:
        chain.answer(Question("q"), [], site_id="s")
    assert raised.value.kind == "upstream_timeout"
