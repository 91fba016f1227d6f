"""Ranking documents from the evidence the search SQL gathers (pure functions, no database).

Both sides score chunks; a document is as good as its best chunk. Two things make that
comparable across documents and across the two sides (docs/search.md has the measurements):

* **One scale.** A chunk's cosine similarity is standardised against the question's own
  null distribution — its similarities to a fixed random sample of the site's chunks — and
  its BM25 score against the score a random chunk would get (terms independent, each present
  with its site-wide frequency). Both become "standard deviations above chance", whatever the
  question, the site or the model.
* **Fair to short documents.** The best of n chunks is higher than one chunk's score by
  chance alone: by E[max of n standard normals] (0 for one chunk, ~1.5 for five, ~2 for
  twenty). A document's score subtracts that, so a long page no longer wins because it
  offered more chances, and a short post that answers the question is not buried.

The fused score adds the text side's evidence, when there is some, at `text_weight` of the
vector side's. One constant, chosen by cross-validation on held-out questions (bench/quality.py).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal, NamedTuple

import numpy as np

Retrieval = Literal["hybrid", "vector", "text"]

# The text side counts a fifth of the vector side: flat between 0.1 and 0.3 on pyfaq, chosen
# by 5-fold cross-validation (docs/search.md).
TEXT_WEIGHT = 0.2
# Spreads below this are degenerate (one chunk, or no term with a frequency): no scale.
MIN_SPREAD = 1e-3


class ChunkEvidence(NamedTuple):
    """One candidate chunk, as the search SQL reports it. A named tuple: a search makes ~120,
    and a frozen dataclass's `__init__` cost ~4 µs each (one `object.__setattr__` a field)."""

    chunk_id: int
    document_id: int
    similarity: float  # cosine similarity to the question
    bm25: float  # 0 when the chunk holds none of the question's words
    document_chunks: int  # how many chunks its document has in this embedding space
    title_match: bool = False  # its document's title is the question


@dataclass(frozen=True)
class QueryBaseline:
    """What chance looks like for this question on this site."""

    similarity_mean: float
    similarity_spread: float
    bm25_mean: float
    bm25_spread: float


@dataclass(frozen=True)
class RankedDocument:
    document_id: int
    chunk_id: int  # the passage that speaks for the document
    score: float  # fused evidence, in standard deviations above chance
    vector_score: float  # the vector side's evidence for the document
    text_score: float | None  # the text side's, None when no chunk holds a question word
    similarity: float  # the best cosine similarity among its candidate chunks
    passages: int  # how many of its chunks were candidates
    title_match: bool = False


@cache
def _normal_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.linspace(-10.0, 10.0, 4001)
    cdf = 0.5 * (1.0 + np.array([math.erf(v / math.sqrt(2.0)) for v in x]))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return x, pdf, cdf


@cache
def expected_max_normal(n: int) -> float:
    """E[max of n independent standard normals] (0 for n = 1): the integral of x times the
    maximum's density n φ(x) Φ(x)^(n-1), by the trapezoid rule on a fine grid."""
    if n <= 1:
        return 0.0
    x, pdf, cdf = _normal_grid()
    return float(np.trapezoid(x * n * pdf * cdf ** (n - 1), x))


def _standardised(value: float, mean: float, spread: float) -> float:
    return (value - mean) / max(spread, MIN_SPREAD)


def rank_documents(
    evidence: Iterable[ChunkEvidence],
    baseline: QueryBaseline,
    *,
    k: int,
    text_weight: float = TEXT_WEIGHT,
    retrieval: Retrieval = "hybrid",
) -> list[RankedDocument]:
    """The k best documents, best first (ties: lower document id first). A document whose
    title is the question comes before the others: someone who types a title wants that page.

    Every candidate document is scored in one pass; only the k winners get their passage
    chosen (a search has ~150 candidate documents: that was most of its ranking time).
    """
    documents: dict[int, _Document] = {}
    for chunk in evidence:
        document = documents.get(chunk.document_id)
        if document is None:
            documents[chunk.document_id] = _Document(chunk)
        else:
            document.add(chunk)
    keys = []
    for document_id, document in documents.items():
        score = document.sides(baseline).fused(text_weight, retrieval)
        if score is not None:
            keys.append((not document.title_match, -score, document_id))
    return [
        documents[document_id].ranked(baseline, text_weight, retrieval)
        for _, _, document_id in heapq.nsmallest(k, keys)
    ]


class _Sides(NamedTuple):
    correction: float  # E[max of n] for the document's n chunks
    vector: float  # best standardised similarity, corrected
    text: float | None  # best standardised BM25, corrected; None when no chunk has a word

    def fused(self, text_weight: float, retrieval: Retrieval) -> float | None:
        if retrieval == "text":
            return self.text
        if retrieval == "vector":
            return self.vector
        return self.vector + text_weight * max(self.text or 0.0, 0.0)


class _Document:
    """A candidate document's chunks and the best raw score of each side."""

    __slots__ = ("best_bm25", "best_similarity", "chunks", "size", "title_match")

    def __init__(self, chunk: ChunkEvidence) -> None:
        self.chunks = [chunk]
        self.best_similarity = chunk.similarity
        self.best_bm25 = chunk.bm25
        self.size = chunk.document_chunks
        self.title_match = chunk.title_match

    def add(self, chunk: ChunkEvidence) -> None:
        self.chunks.append(chunk)
        self.best_similarity = max(self.best_similarity, chunk.similarity)
        self.best_bm25 = max(self.best_bm25, chunk.bm25)
        self.size = max(self.size, chunk.document_chunks)
        self.title_match = self.title_match or chunk.title_match

    def sides(self, baseline: QueryBaseline) -> _Sides:
        """Standardising is increasing: a side's best chunk is its best raw score's."""
        correction = expected_max_normal(self.size)
        vector = _standardised(
            self.best_similarity, baseline.similarity_mean, baseline.similarity_spread
        )
        text = None
        if self.best_bm25 > 0:
            text = (
                _standardised(self.best_bm25, baseline.bm25_mean, baseline.bm25_spread) - correction
            )
        return _Sides(correction, vector - correction, text)

    def ranked(
        self, baseline: QueryBaseline, text_weight: float, retrieval: Retrieval
    ) -> RankedDocument:
        sides = self.sides(baseline)
        score = sides.fused(text_weight, retrieval)
        assert score is not None  # only documents with a score are ranked

        def passage_value(c: ChunkEvidence) -> float:
            own_text = 0.0
            if c.bm25 > 0:
                text = _standardised(c.bm25, baseline.bm25_mean, baseline.bm25_spread)
                own_text = max(text - sides.correction, 0.0)
            if retrieval == "text":
                return own_text
            vector = _standardised(
                c.similarity, baseline.similarity_mean, baseline.similarity_spread
            )
            return vector + (0.0 if retrieval == "vector" else text_weight * own_text)

        best = max(self.chunks, key=lambda c: (passage_value(c), -c.chunk_id))
        return RankedDocument(
            document_id=best.document_id,
            chunk_id=best.chunk_id,
            score=score,
            vector_score=sides.vector,
            text_score=sides.text,
            similarity=self.best_similarity,
            passages=len(self.chunks),
            title_match=self.title_match,
        )
