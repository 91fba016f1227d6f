"""Ranking documents from search evidence: one scale for both sides, fair to short documents."""

import math

import pytest

from pressrag.resources.store.ranking import (
    ChunkEvidence,
    QueryBaseline,
    expected_max_normal,
    rank_documents,
)

BASELINE = QueryBaseline(similarity_mean=0.1, similarity_spread=0.1, bm25_mean=1.0, bm25_spread=2.0)


def chunk(chunk_id: int, doc: int, similarity: float, bm25: float = 0.0, size: int = 1, **kw):
    return ChunkEvidence(chunk_id, doc, similarity, bm25, size, **kw)


@pytest.mark.parametrize(
    ("n", "expected"),
    # Exact values: E[max of 2] = 1/sqrt(pi), of 3 = 3/(2 sqrt(pi)); of 5 from order-statistic
    # tables (Harter 1961).
    [(1, 0.0), (2, 1 / math.sqrt(math.pi)), (3, 1.5 / math.sqrt(math.pi)), (5, 1.16296)],
)
def test_expected_maximum_of_normals(n: int, expected: float) -> None:
    assert expected_max_normal(n) == pytest.approx(expected, abs=1e-4)


def test_a_long_document_does_not_win_by_having_more_chunks() -> None:
    """Same best similarity: one chunk that reaches it says more than the best of twenty."""
    short = chunk(1, doc=1, similarity=0.5, size=1)
    long = chunk(2, doc=2, similarity=0.5, size=20)
    ranked = rank_documents([long, short], BASELINE, k=2)
    assert [r.document_id for r in ranked] == [1, 2]
    assert ranked[1].vector_score == pytest.approx(4.0 - expected_max_normal(20))


def test_scores_are_standard_deviations_above_chance() -> None:
    (only,) = rank_documents([chunk(1, 1, 0.45)], BASELINE, k=1, retrieval="vector")
    assert only.score == pytest.approx((0.45 - 0.1) / 0.1)


def test_text_evidence_adds_at_its_weight_and_never_subtracts() -> None:
    a = chunk(1, doc=1, similarity=0.40)
    b = chunk(2, doc=2, similarity=0.38, bm25=9.0)  # z = 4 on the text side
    c = chunk(3, doc=3, similarity=0.39, bm25=0.2)  # below chance on the text side
    ranked = rank_documents([a, b, c], BASELINE, k=3, text_weight=0.2)
    assert [r.document_id for r in ranked] == [2, 1, 3]
    by_doc = {r.document_id: r for r in ranked}
    assert by_doc[2].score == pytest.approx(2.8 + 0.2 * 4.0)
    assert by_doc[3].score == pytest.approx(by_doc[3].vector_score)  # negative text ignored
    assert by_doc[1].text_score is None
    weightless = rank_documents([a, b, c], BASELINE, k=3, text_weight=0.0)
    assert [r.document_id for r in weightless] == [1, 3, 2]


def test_each_side_alone() -> None:
    evidence = [chunk(1, 1, 0.6), chunk(2, 2, 0.2, bm25=5.0), chunk(3, 3, 0.3, bm25=3.0)]
    assert [r.document_id for r in rank_documents(evidence, BASELINE, k=3, retrieval="vector")] == [
        1,
        3,
        2,
    ]
    text = rank_documents(evidence, BASELINE, k=3, retrieval="text")
    assert [r.document_id for r in text] == [2, 3]  # a document without a word is not found


def test_one_result_per_document_with_its_best_passage() -> None:
    evidence = [
        chunk(10, doc=1, similarity=0.3, size=3),
        chunk(11, doc=1, similarity=0.6, size=3),
        chunk(12, doc=1, similarity=0.2, bm25=4.0, size=3),
        chunk(20, doc=2, similarity=0.5, size=1),
    ]
    ranked = rank_documents(evidence, BASELINE, k=5)
    assert sorted(r.document_id for r in ranked) == [1, 2]
    first = next(r for r in ranked if r.document_id == 1)
    assert first.chunk_id == 11 and first.passages == 3 and first.similarity == 0.6


def test_k_counts_documents() -> None:
    evidence = [chunk(i, doc=i // 3, similarity=0.5 - i / 100) for i in range(30)]
    assert len(rank_documents(evidence, BASELINE, k=4)) == 4


def test_a_document_titled_as_the_question_comes_first() -> None:
    evidence = [chunk(1, 1, 0.7), chunk(2, 2, 0.2, title_match=True)]
    assert [r.document_id for r in rank_documents(evidence, BASELINE, k=2)] == [2, 1]


def test_degenerate_spreads_do_not_divide_by_zero() -> None:
    flat = QueryBaseline(0.3, 0.0, 0.0, 0.0)
    ranked = rank_documents([chunk(1, 1, 0.5, bm25=1.0), chunk(2, 2, 0.4)], flat, k=2)
    assert [r.document_id for r in ranked] == [1, 2]
    assert all(math.isfinite(r.score) for r in ranked)


def test_ties_break_on_the_document_for_a_stable_order() -> None:
    ranked = rank_documents([chunk(1, 7, 0.5), chunk(2, 3, 0.5)], BASELINE, k=2)
    assert [r.document_id for r in ranked] == [3, 7]
