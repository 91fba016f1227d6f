"""`POST /v1/ask`: retrieval, then a cited answer — JSON, or server-sent events on request.

When the best vector match is too far from the question, the answer is the explicit
not-found sentence (mode `not_found`) whatever the answerer, so no model is asked to
answer from irrelevant context. Citations are exactly the passages the answer cites,
ordered by their number (= retrieval rank).

A follow-up ("and how long does it take?") is answered in its conversation: with `history`,
the answerer first rewrites it into the standalone question that is searched and answered.

Answers are cached in PostgreSQL (shared by replicas, resources/gateway/answer_cache.py) per
site, normalised question, earlier turns, k and answerer; a cached answer is served only while
every chunk it cites is unchanged, and says so (`cached`). Every model call (rewrite, answer) is
a ledger row of the site; the request itself is counted once, cache hits apart.

The answerer is a chain of providers (resources/gateway/failover.py): the response's
`provider` names the one that answered; a stream whose provider broke mid-answer carries a
`reset` event before the next provider's text. The question's embedder is a chain too
(resources/gateway/embedding_failover.py): `embedding_provider` names who embedded it; when
no provider could, retrieval ran on keywords alone (`degraded: keyword_only`), the evidence
gate looks at keyword evidence instead of vector distance, and the answer is not cached.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from pressrag.resources.answerers import (
    Answer,
    AnswerUnavailable,
    Delta,
    Passage,
    Question,
    Reset,
    Rewrite,
    Turn,
    collect,
    passages_from_hits,
    retrieval_too_weak,
)
from pressrag.resources.answerers.base import AnswerEvent, not_found_events
from pressrag.resources.gateway import answer_cache
from pressrag.resources.gateway.failover import AnswererChain
from pressrag.resources.models import SearchHit
from pressrag.serving.deps import ComponentsDep, PrincipalDep, ServicesDep, authorize
from pressrag.serving.errors import ApiError, error_responses
from pressrag.serving.metrics import Metrics
from pressrag.serving.routers.search import check_caps, snippet
from pressrag.serving.schemas import AskRequest, AskResponse, Citation
from pressrag.serving.sse import SSE_HEADERS, sse_event, wants_event_stream
from pressrag.serving.state import Components

log = logging.getLogger("serving.ask")
router = APIRouter(prefix="/v1", tags=["ask"])

_UPSTREAM_STATUS = {"upstream_timeout": 504, "upstream_rate_limited": 503}

SSE_DESCRIPTION = (
    "With `Accept: text/event-stream`: events `delta` ({text}) repeated, then `citations` "
    "({citations}), then `done` ({mode, timings, retrieval_question, provider, cached, "
    "embedding_provider, degraded}); on failure an `error` event ({error, message})."
)
# What the response says about the question's embedding when none was made.
NOT_EMBEDDED = {"embedding_provider": None, "degraded": None}


def keyword_evidence_too_weak(hits: Sequence[SearchHit]) -> bool:
    """The evidence gate of a keyword-only retrieval (there is no vector distance to judge):
    no hit holds the question's words better than a random passage of the site would."""
    return not any(h.text_score is not None and h.text_score > 0 for h in hits)


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


class Cacher:
    """Looks answers up in the shared cache and keeps the ones worth keeping."""

    def __init__(self, components: Components, metrics: Metrics, key: bytes | None, site: str):
        self.components = components
        self.primary = components.answerer.providers[0].name
        self.metrics = metrics
        self.key = key
        self.site = site

    def lookup(self, ttl_seconds: float) -> dict | None:
        if self.key is None:
            return None
        try:
            with self.components.store.connection() as conn:
                found = answer_cache.serve(conn, self.key, self.site, ttl_seconds)
        except Exception as exc:  # no cache is better than no answer
            log.warning("answer cache lookup failed (%s)", type(exc).__name__)
            return None
        self.metrics.answer_cache.labels("hit" if found else "miss").inc()
        return found.payload if found else None

    def keep(self, payload: dict, cited: Sequence[int], hits: Sequence[SearchHit]) -> None:
        """Answers that cite something (a not-found would outlive the content that answers it),
        from the chain's first provider (a fallback's answer must not stand in for it later)."""
        if self.key is None or payload["mode"] == "not_found" or not cited:
            return
        if payload["provider"] != self.primary:
            return
        chunk_ids = [hits[n - 1].chunk_id for n in cited if 0 < n <= len(hits)]
        try:
            with self.components.store.connection() as conn:
                answer_cache.store(conn, self.key, self.site, payload, chunk_ids)
        except Exception as exc:  # the answer is given either way
            log.warning("could not cache an answer (%s)", type(exc).__name__)


def event_stream(
    events: Iterator[AnswerEvent],
    passages: Sequence[Passage],
    question: str,
    timings: dict[str, float],
    started: float,
    metrics: Metrics,
    mode: str,
    on_done: Callable[[dict, Sequence[int]], None] | None = None,
    embedding: dict | None = None,
) -> Iterator[bytes]:
    """SSE frames for an answer; failures after the stream started become an `error` event."""
    t0 = time.perf_counter()
    parts: list[str] = []
    try:
        for event in events:
            if isinstance(event, Delta):
                parts.append(event.text)
                yield sse_event("delta", {"text": event.text})
                continue
            if isinstance(event, Reset):  # that provider broke mid-answer: the next starts over
                parts.clear()
                yield sse_event("reset", {"failed_provider": event.provider})
                continue
            citations = citations_for(event.cited, passages, question)
            yield sse_event("citations", {"citations": [c.model_dump() for c in citations]})
            timings = {
                **timings,
                "answer_ms": _ms(time.perf_counter() - t0),
                "total_ms": _ms(time.perf_counter() - started),
            }
            answered_by = event.provider if event.mode != "not_found" else None
            done = {
                "mode": event.mode,
                "timings": timings,
                "retrieval_question": question,
                "provider": answered_by,
                "cached": False,
                **(embedding or NOT_EMBEDDED),
            }
            yield sse_event("done", done)
            _record(metrics, event.mode, "ok", event.prompt_tokens, event.completion_tokens)
            if on_done is not None:
                payload = {
                    "answer": "".join(parts).strip(),
                    "citations": [c.model_dump() for c in citations],
                    "mode": event.mode,
                    "retrieval_question": question,
                    "provider": answered_by,
                }
                on_done(payload, event.cited)
            return
        raise AnswerUnavailable("upstream_error", "the answer ended early")
    except AnswerUnavailable as exc:
        _record(metrics, mode, exc.kind)
        yield sse_event("error", {"error": exc.kind, "message": str(exc)})
    except Exception as exc:
        log.error("answer stream failed: %s", type(exc).__name__)
        _record(metrics, mode, "internal")
        yield sse_event("error", {"error": "internal", "message": "internal error"})


def cached_stream(payload: dict, started: float) -> Iterator[bytes]:
    yield sse_event("delta", {"text": payload["answer"]})
    yield sse_event("citations", {"citations": payload["citations"]})
    yield sse_event(
        "done",
        {
            "mode": payload["mode"],
            "timings": {"total_ms": _ms(time.perf_counter() - started)},
            "retrieval_question": payload["retrieval_question"],
            "provider": payload["provider"],
            "cached": True,
            **NOT_EMBEDDED,
        },
    )


def standalone(chain: AnswererChain, body: AskRequest, metrics: Metrics, site_id: str) -> Rewrite:
    """The question to search and answer: the one asked, or its rewrite as a follow-up."""
    if not body.question or not body.history:
        return Rewrite(body.question, rewritten=False)
    history = [Turn(turn.question, turn.answer) for turn in body.history]
    rewrite = chain.rewrite(body.question, history, site_id=site_id)
    for kind, tokens in (
        ("prompt", rewrite.prompt_tokens),
        ("completion", rewrite.completion_tokens),
    ):
        if tokens:
            metrics.llm_tokens.labels(kind).inc(tokens)
    return rewrite


def _cache_key(body: AskRequest, site_id: str, k: int, chain: AnswererChain) -> bytes:
    return answer_cache.cache_key(
        site_id=site_id,
        question=body.question,
        history=[(turn.question, turn.answer) for turn in body.history],
        k=k,
        answerer=chain.identity,
    )


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
    entry = authorize(services, components, principal, body.site, scope="ask", count=False)
    answerer = components.answerer
    use_cache = settings.answer_cache and bool(body.question)
    cacher = Cacher(
        components,
        services.metrics,
        _cache_key(body, entry.id, k, answerer) if use_cache else None,
        entry.id,
    )
    cached = cacher.lookup(settings.answer_cache_ttl_seconds)
    components.ledger.count_request(entry.id, "ask", cache_hit=cached is not None)
    if cached is not None:
        if wants_event_stream(accept):
            return StreamingResponse(
                cached_stream(cached, started), media_type="text/event-stream", headers=SSE_HEADERS
            )
        return _response(
            cached,
            cached=True,
            timings={"total_ms": _ms(time.perf_counter() - started)},
            embedding=NOT_EMBEDDED,
        )

    rewrite = standalone(answerer, body, services.metrics, entry.id)
    hits: list[SearchHit] = []
    if rewrite.text:
        found = components.retriever.retrieve(
            site_id=entry.id,
            query=rewrite.text,
            k=k,
            ts_config=entry.site.ts_config,
            filters=None,
            endpoint="ask",
        )
        hits = found.hits
        passages = passages_from_hits(hits)
        question = Question(rewrite.text, found.query_vector)
        timings = {"embed_ms": found.embed_ms, "search_ms": found.search_ms}
        embedding = {"embedding_provider": found.embedding_provider, "degraded": found.degraded}
        degraded = found.keyword_only
    else:  # nothing left after cleaning control characters: nothing to find
        passages, question, timings = [], Question(""), {"embed_ms": 0.0, "search_ms": 0.0}
        embedding, degraded = NOT_EMBEDDED, False
    if degraded:
        weak = keyword_evidence_too_weak(hits)
    else:
        weak = retrieval_too_weak(passages, settings.not_found_distance)

    if wants_event_stream(accept):

        def done(payload: dict, cited: Sequence[int]) -> None:
            if not degraded:  # a keyword-only answer must not stand in for a full one later
                cacher.keep(payload, cited, hits)

        events = (
            not_found_events() if weak else answerer.stream(question, passages, site_id=entry.id)
        )
        return StreamingResponse(
            event_stream(
                events,
                passages,
                rewrite.text,
                timings,
                started,
                services.metrics,
                answerer.mode,
                on_done=done,
                embedding=embedding,
            ),
            media_type="text/event-stream",
            headers=SSE_HEADERS,
        )

    t0 = time.perf_counter()
    try:
        answer: Answer = (
            collect(not_found_events())
            if weak
            else answerer.answer(question, passages, site_id=entry.id)
        )
    except AnswerUnavailable as exc:
        _record(services.metrics, answerer.mode, exc.kind)
        raise ApiError(_UPSTREAM_STATUS.get(exc.kind, 502), exc.kind, str(exc)) from None
    _record(services.metrics, answer.mode, "ok", answer.prompt_tokens, answer.completion_tokens)
    citations = citations_for(answer.cited, passages, rewrite.text)
    payload = {
        "answer": answer.text,
        "citations": [c.model_dump() for c in citations],
        "mode": answer.mode,
        "retrieval_question": rewrite.text,
        "provider": answer.provider if answer.mode != "not_found" else None,
    }
    if not degraded:
        cacher.keep(payload, answer.cited, hits)
    return _response(
        payload,
        cached=False,
        timings={
            **timings,
            "answer_ms": _ms(time.perf_counter() - t0),
            "total_ms": _ms(time.perf_counter() - started),
        },
        embedding=embedding,
    )


def _response(
    payload: dict, *, cached: bool, timings: dict[str, float], embedding: dict
) -> AskResponse:
    return AskResponse(
        answer=payload["answer"],
        citations=[Citation(**c) for c in payload["citations"]],
        mode=payload["mode"],
        retrieval_question=payload["retrieval_question"],
        provider=payload["provider"],
        cached=cached,
        timings=timings,
        **embedding,
    )
