"""`POST /v1/search`: one site's documents that best answer a query, each with its best passage.

The response names the provider that embedded the query (`embedding_provider`); when none
could, the search ran on keywords alone and says so (`degraded: keyword_only`), still a 200.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Response

from pressrag.resources.models import SearchHit
from pressrag.resources.store.search import SearchFilters
from pressrag.serving.deps import ComponentsDep, PrincipalDep, ServicesDep, authorize
from pressrag.serving.errors import ApiError, error_responses
from pressrag.serving.schemas import SearchFiltersIn, SearchHitOut, SearchRequest, SearchResponse
from pressrag.serving.settings import ServingSettings

router = APIRouter(prefix="/v1", tags=["search"])
SNIPPET_CHARS = 240


def snippet(text: str, query: str = "", width: int = SNIPPET_CHARS) -> str:
    """A window of the chunk around the first query word it contains, else its start."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    lower = flat.lower()
    positions = [lower.find(w) for w in query.lower().split() if len(w) > 3]
    start = max(0, min((p for p in positions if p >= 0), default=0) - width // 4)
    if start:
        start = flat.find(" ", start) + 1 or start
    piece = flat[start : start + width].rsplit(" ", 1)[0]
    return ("… " if start else "") + piece + " …"


def to_filters(filters: SearchFiltersIn | None) -> SearchFilters | None:
    if filters is None:
        return None
    return SearchFilters(
        post_types=filters.post_types,
        categories=filters.categories,
        tags=filters.tags,
        published_after=filters.published_after,
    )


def hit_out(rank: int, hit: SearchHit, query: str) -> SearchHitOut:
    return SearchHitOut(
        rank=rank,
        title=hit.title,
        url=hit.url,
        heading=" › ".join(hit.heading_path),
        snippet=snippet(hit.text, query),
        score=round(hit.score, 4),
        passages=hit.passages,
        doc_type=hit.doc_type,
        vector_distance=hit.vector_distance,
    )


def check_caps(settings: ServingSettings, text: str, k: int) -> int:
    """Apply the configured caps (the schema holds the hard ceilings); k is clamped."""
    if len(text) > settings.max_question_chars:
        raise ApiError(
            422, "invalid_request", f"the text is longer than {settings.max_question_chars} chars"
        )
    return min(k, settings.max_k)


@router.post(
    "/search",
    response_model=SearchResponse,
    responses=error_responses(400, 401, 403, 404, 413, 422, 429, 503),
    summary="Search one site",
)
def search(
    body: SearchRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    components: ComponentsDep,
) -> Response:
    t0 = time.perf_counter()
    k = check_caps(services.settings, body.query, body.k)
    entry = authorize(services, components, principal, body.site, scope="search")
    if not body.query:  # empty, blank, or nothing left after cleaning control characters
        raise ApiError(422, "invalid_request", "the query is empty")
    found = components.retriever.retrieve(
        site_id=entry.id,
        query=body.query,
        k=k,
        ts_config=entry.site.ts_config,
        filters=to_filters(body.filters),
        endpoint="search",
    )
    response = SearchResponse(
        hits=[hit_out(i, h, body.query) for i, h in enumerate(found.hits, start=1)],
        timings={
            "embed_ms": found.embed_ms,
            "search_ms": found.search_ms,
            "total_ms": round((time.perf_counter() - t0) * 1000, 2),
        },
        embedding_provider=found.embedding_provider,
        degraded=found.degraded,
    )
    # Serialized here, in this worker thread: given the model, FastAPI would validate it again
    # in one more worker-thread hop (~0.1 ms of CPU) before writing these same bytes.
    return Response(response.model_dump_json(), media_type="application/json")
