"""Shared shapes of the answerers and the evidence gate."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from pressrag.resources.answerers.followup import Rewrite, Turn
from pressrag.resources.errors import PressRAGError
from pressrag.resources.models import SearchHit

# The one sentence every answerer gives when the site does not hold the answer; the chat
# shows it as is, and tests look for it.
NOT_FOUND_TEXT = "I could not find this on the site."


class AnswerUnavailable(PressRAGError):
    """The answer could not be produced (upstream model failed, timed out, rate limited).

    `kind` is a short machine-readable reason (`upstream_timeout`, `upstream_rate_limited`,
    `upstream_error`); the message never carries secrets or upstream bodies.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Question:
    text: str
    vector: np.ndarray | None = None  # the query embedding, when the caller already has it


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk numbered for citation: `n` is its 1-based retrieval rank."""

    n: int
    title: str
    url: str
    heading: str
    text: str
    vector_distance: float | None = None


def passages_from_hits(hits: Sequence[SearchHit]) -> list[Passage]:
    return [
        Passage(
            n=i,
            title=h.title,
            url=h.url,
            heading=" › ".join(h.heading_path),
            text=h.text,
            vector_distance=h.vector_distance,
        )
        for i, h in enumerate(hits, start=1)
    ]


def retrieval_too_weak(passages: Sequence[Passage], max_distance: float) -> bool:
    """True when no passage is close enough to the question to answer from.

    Cosine distance of the best vector match is the evidence: full-text matches alone
    (e.g. one shared common word) are not enough to claim the site answers the question.
    """
    distances = [p.vector_distance for p in passages if p.vector_distance is not None]
    return not distances or min(distances) > max_distance


@dataclass(frozen=True)
class Delta:
    """A piece of answer text, already free of invalid citation markers."""

    text: str


@dataclass(frozen=True)
class Final:
    """The end of an answer: which passages were cited (in first-use order) and how."""

    cited: list[int]
    mode: str  # "extractive" | "openai" | "not_found"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    provider: str | None = None  # set by a chain of providers (resources/gateway/failover.py)


@dataclass(frozen=True)
class Reset:
    """The text streamed so far is void: `provider` broke mid-answer, the next one starts over."""

    provider: str


AnswerEvent = Delta | Reset | Final


@dataclass(frozen=True)
class Answer:
    text: str
    cited: list[int] = field(default_factory=list)
    mode: str = "extractive"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    provider: str | None = None  # set by a chain of providers (resources/gateway/failover.py)


class Answerer(Protocol):
    mode: str

    def stream(self, question: Question, passages: Sequence[Passage]) -> Iterator[AnswerEvent]:
        """Deltas of answer text, then exactly one `Final`."""
        ...

    def answer(self, question: Question, passages: Sequence[Passage]) -> Answer: ...

    def rewrite(self, question: str, history: Sequence[Turn]) -> Rewrite:
        """The standalone question retrieval should use, given the earlier turns."""
        ...


def collect(events: Iterator[AnswerEvent]) -> Answer:
    """Join a stream into one `Answer`."""
    parts: list[str] = []
    for event in events:
        if isinstance(event, Delta):
            parts.append(event.text)
        elif isinstance(event, Reset):
            parts.clear()
        else:
            return Answer(
                text="".join(parts).strip(),
                cited=event.cited,
                mode=event.mode,
                prompt_tokens=event.prompt_tokens,
                completion_tokens=event.completion_tokens,
                provider=event.provider,
            )
    raise AnswerUnavailable("upstream_error", "the answer ended without a final event")


def not_found_events() -> Iterator[AnswerEvent]:
    yield Delta(NOT_FOUND_TEXT)
    yield Final(cited=[], mode="not_found")
