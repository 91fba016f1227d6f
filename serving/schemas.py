"""Request and response bodies of the public API (docs/contracts.md), as pydantic models.

Text fields are cleaned before use: control characters (NUL included, which Postgres
rejects) and lone surrogates are replaced by spaces and whitespace is trimmed. Cleaning
never rejects what the schema allows; text that cleans to nothing simply matches nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pressrag.serving.settings import MAX_K, MAX_TEXT_CHARS

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _drop_empty(terms: list[str]) -> list[str]:
    return [t for t in terms if t]


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


CleanText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(_clean)]
Term = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_clean)]
# A query must hold something besides spaces and control characters; the router says "the
# query is empty" when it does not (the pattern tells clients and schema-driven tests).
QueryText = Annotated[CleanText, Field(json_schema_extra={"pattern": r"[^\s\x00-\x1f\x7f]"})]
SiteId = Annotated[str, Field(pattern=SITE_PATTERN, examples=["demo"])]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Terms = Annotated[list[Term], AfterValidator(_drop_empty)]


class SearchFiltersIn(Strict):
    post_types: Terms = Field(default_factory=list, max_length=20)
    categories: Terms = Field(default_factory=list, max_length=50)
    tags: Terms = Field(default_factory=list, max_length=50)
    published_after: Annotated[datetime | None, AfterValidator(_utc)] = None


class SearchRequest(Strict):
    site: SiteId
    query: QueryText
    k: int = Field(default=8, ge=1, le=MAX_K)
    filters: SearchFiltersIn | None = None


class SearchHitOut(BaseModel):
    """One document: `k` counts documents, and no document comes twice."""

    rank: int
    title: str = Field(description="Plain text.")
    url: str
    heading: str = Field(description="Heading path of the best passage, plain text.")
    snippet: str = Field(description="A window of the best passage, plain text.")
    score: float = Field(
        description="Evidence that the document answers the query, in standard deviations "
        "above what a random passage of the site scores (higher is better; docs/search.md)."
    )
    passages: int = Field(description="How many of the document's passages matched.")
    doc_type: str
    vector_distance: float | None = Field(
        default=None, description="Cosine distance of the document's closest passage."
    )


Timings = dict[str, float]
Degraded = Literal["keyword_only"]

EMBEDDING_PROVIDER = (
    "Who embedded the question: `openai` (the configured OpenAI-compatible endpoint), "
    "`secondary` (the failover endpoint serving the same embedding model) or `local` (the "
    "local model, when the index was built with it); for a question whose vector was cached, "
    "the provider that embedded it. null when no question was embedded: `degraded` is "
    "`keyword_only`, or (`/v1/ask`) the answer came from the answer cache."
)
DEGRADED = (
    "null normally. `keyword_only`: no provider of the index's embedding model could embed "
    "the question (all failed or their circuit breakers are open), so the results come from "
    "the full-text half of the search alone — same site and filters, ranked by keyword "
    "evidence, `vector_distance` null. Retry later for full quality."
)


class SearchResponse(BaseModel):
    hits: list[SearchHitOut]
    timings: Timings = Field(description="Milliseconds: embed_ms, search_ms, total_ms.")
    embedding_provider: str | None = Field(
        default=None, description=EMBEDDING_PROVIDER, examples=["openai"]
    )
    degraded: Degraded | None = Field(default=None, description=DEGRADED)


# A chat sends its last few turns; more would only be cut (the rewrite looks at four).
MAX_HISTORY_TURNS = 8
MAX_TURN_ANSWER_CHARS = 4000


class AskTurn(Strict):
    question: CleanText
    answer: Annotated[str, Field(max_length=MAX_TURN_ANSWER_CHARS), AfterValidator(_clean)] = ""


class AskRequest(Strict):
    site: SiteId
    question: CleanText
    k: int = Field(default=6, ge=1, le=MAX_K)
    history: list[AskTurn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description=(
            "Earlier turns of the conversation, oldest first. A follow-up question is "
            "rewritten into a standalone one for retrieval (by the model when one is "
            "configured, else by the follow-up rule); see `retrieval_question`."
        ),
    )


class Citation(BaseModel):
    n: int = Field(description="The number used as [n] in the answer.")
    title: str
    url: str
    heading: str
    snippet: str


Mode = Literal["extractive", "openai", "not_found"]


class AskResponse(BaseModel):
    answer: str
    citations: list[Citation] = Field(description="Exactly the passages cited in the answer.")
    mode: Mode
    retrieval_question: str = Field(
        description="What was searched and answered: the question, or its standalone "
        "rewrite when `history` made it a follow-up."
    )
    timings: Timings = Field(description="Milliseconds: embed_ms, search_ms, answer_ms, total_ms.")
    provider: str | None = Field(
        default=None,
        description="Who answered: `local` (the extractive answerer), `openai` (the configured "
        "OpenAI-compatible endpoint), `secondary` (the failover endpoint); none for a "
        "not-found answer.",
    )
    cached: bool = Field(
        default=False,
        description="Served from the answer cache: every passage it cites is unchanged since.",
    )
    embedding_provider: str | None = Field(
        default=None, description=EMBEDDING_PROVIDER, examples=["openai"]
    )
    degraded: Degraded | None = Field(
        default=None,
        description=DEGRADED + " The answer is then made from the keyword hits (and is not "
        "cached); it is not-found when no hit holds the question's words above chance.",
    )


class SiteStatus(BaseModel):
    model_config = ConfigDict(extra="allow")

    site: str
    documents: int
    chunks: int
    excluded: int
    failures: int
    pending_events: int
    dead_events: int
    last_run: dict | None


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: bool
    model: bool
    answerer: str | None
    detail: str | None = None
