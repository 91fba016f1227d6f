"""`POST /v1/ask`: retrieval, then a cited answer — JSON, or server-sent events on request.

When the best vector match is too far from the question, the answer is the explicit
not-found sentence (mode `not_found`) whatever the answerer, so no model is asked to
answer from irrelevant context. Citations are exactly the passages the answer cites,
ordered by their number (= retrieval rank).

A follow-up ("and how long does it take?") is answered in its conversation: with `history`,
the answerer first rewrites it into the standalone question that is searched and answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from pressrag.resources.answerers import (
    Answer,
    Answerer,
    AnswerUnavailable,
    Delta,
    Passage,
    Question,
    Rewrite,
    Turn,
    collect,
    passages_from_hits,
    retrieval_too_weak,
)
from pressrag.resources.answerers.base import AnswerEvent, not_found_events
from pressrag.serving.deps import ComponentsDep, PrincipalDep, ServicesDep, authorize
from pressrag.serving.errors import ApiError, error_responses
from pressrag.serving.metrics import Metrics
from pressrag.serving.routers.search import check_caps, snippet
from pressrag.serving.schemas import AskRequest, AskResponse, Citation
from pressrag.serving.sse import SSE_HEADERS, sse_event, wants_event_stream

log = logging.getLogger("serving.ask")
router = APIRouter(prefix="/v1", tags=["ask"])

_UPSTREAM_STATUS = {"upstream_timeout": 504, "upstream_rate_limited": 503}

SSE_DESCRIPTION = (
    "With `Accept: text/event-stream`: events `delta` ({text}) repeated, then `citations` "
    "({citations}), then `done` ({mode, timings, retrieval_question}); on failure an "
    "`error` event ({error, message})."
)


def citations_for(cited: Sequence[int], passages: Sequence[Passage], query: str) -> list[Citation]:
    by_n = {p.n: p for p in passages}
    return [
        Citation(
            n=n,
            title=by_n[n].title,
            url=by_n[n].url,
            heading=by_n[n].heading,
            snippet=snippet(by_n[n].text, query),
        )
        for n in sorted(set(cited))
        if n in by_n
    ]


def _record(
    metrics: Metrics, mode: str, outcome: str, prompt: int = 0, completion: int = 0
) -> None:
    metrics.answers.labels(mode, outcome).inc()
    if prompt:
        metrics.llm_tokens.labels("prompt").inc(prompt)
    if completion:
        metrics.llm_tokens.labels("completion").inc(completion)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def event_stream(
    events: Iterator[AnswerEvent],
    passages: Sequence[Passage],
    question: str,
    timings: dict[str, float],
    started: float,
    metrics: Metrics,
    mode: str,
) -> Iterator[bytes]:
    """SSE frames for an answer; failures after the stream started become an `error` event."""
    t0 = time.perf_counter()
    try:
        for event in events:
            if isinstance(event, Delta):
                yield sse_event("delta", {"text": event.text})
                continue
            citations = citations_for(event.cited, passages, question)
            yield sse_event("citations", {"citations": [c.model_dump() for c in citations]})
            timings = {
                **timings,
                "answer_ms": _ms(time.perf_counter() - t0),
                "total_ms": _ms(time.perf_counter() - started),
            }
            done = {"mode": event.mode, "timings": timings, "retrieval_question": question}
            yield sse_event("done", done)
            _record(metrics, event.mode, "ok", event.prompt_tokens, event.completion_tokens)
            return
        raise AnswerUnavailable("upstream_error", "the answer ended early")
    except AnswerUnavailable as exc:
        _record(metrics, mode, exc.kind)
        yield sse_event("error", {"error": exc.kind, "message": str(exc)})
    except Exception as exc:
        log.error("answer stream failed: %s", type(exc).__name__)
        _record(metrics, mode, "internal")
        yield sse_event("error", {"error": "internal", "message": "internal error"})


def standalone(answerer: Answerer, body: AskRequest, metrics: Metrics) -> Rewrite:
    """The question to search and answer: the one asked, or its rewrite as a follow-up."""
    if not body.question or not body.history:
        return Rewrite(body.question, rewritten=False)
    history = [Turn(turn.question, turn.answer) for turn in body.history]
    rewrite = answerer.rewrite(body.question, history)
    for kind, tokens in (
        ("prompt", rewrite.prompt_tokens),
        ("completion", rewrite.completion_tokens),
    ):
        if tokens:
            metrics.llm_tokens.labels(kind).inc(tokens)
    return rewrite


@router.post(
    "/ask",
    response_model=AskResponse,
    responses={
        200: {
            "description": "The answer as JSON, or as server-sent events. " + SSE_DESCRIPTION,
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **error_responses(400, 401, 403, 404, 413, 422, 429, 502, 503, 504),
    },
    summary="Answer a question from one site, with numbered citations",
)
def ask(
    body: AskRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    components: ComponentsDep,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> AskResponse | StreamingResponse:
    started = time.perf_counter()
    settings = services.settings
    k = check_caps(settings, body.question, body.k)
    entry = authorize(services, components, principal, body.site)
    answerer = components.answerer
    rewrite = standalone(answerer, body, services.metrics)
    if rewrite.text:
        found = components.retriever.retrieve(
            site_id=entry.id,
            query=rewrite.text,
            k=k,
            ts_config=entry.site.ts_config,
            filters=None,
            endpoint="ask",
        )
        passages = passages_from_hits(found.hits)
        question = Question(rewrite.text, found.query_vector)
        timings = {"embed_ms": found.embed_ms, "search_ms": found.search_ms}
    else:  # nothing left after cleaning control characters: nothing to find
        passages, question, timings = [], Question(""), {"embed_ms": 0.0, "search_ms": 0.0}
    weak = retrieval_too_weak(passages, settings.not_found_distance)

    if wants_event_stream(accept):
        events = not_found_events() if weak else answerer.stream(question, passages)
        return StreamingResponse(
            event_stream(
                events, passages, rewrite.text, timings, started, services.metrics, answerer.mode
            ),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    t0 = time.perf_counter()
    try:
        answer: Answer = (
            collect(not_found_events()) if weak else answerer.answer(question, passages)
        )
    except AnswerUnavailable as exc:
        _record(services.metrics, answerer.mode, exc.kind)
        raise ApiError(_UPSTREAM_STATUS.get(exc.kind, 502), exc.kind, str(exc)) from None
    _record(services.metrics, answer.mode, "ok", answer.prompt_tokens, answer.completion_tokens)
    return AskResponse(
        answer=answer.text,
        citations=citations_for(answer.cited, passages, rewrite.text),
        mode=answer.mode,  # type: ignore[arg-type]
        retrieval_question=rewrite.text,
        timings={
            **timings,
            "answer_ms": _ms(time.perf_counter() - t0),
            "total_ms": _ms(time.perf_counter() - started),
        },
    )
