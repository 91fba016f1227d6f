"""Reciprocal-rank fusion: the pure function the SQL fusion is checked against."""

import pytest

from resources.store.search import reciprocal_rank_fusion


def test_an_item_ranked_by_both_lists_beats_one_ranked_first_by_only_one() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [2, 3, 4]])
    assert [item for item, _ in fused][:2] == [2, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


@pytest.mark.parametrize(
    ("weights", "winner"),
    [((1.0, 1.0), 2), ((1.0, 0.0), 1), ((0.0, 1.0), 2), ((1.0, 0.01), 1)],
)
def test_weights_decide_between_the_lists(weights: tuple[float, float], winner: int) -> None:
    """Each list's weight scales its votes; a zero weight makes the fusion one list's order."""
    fused = reciprocal_rank_fusion([[1, 2], [2, 3]], list(weights))
    assert fused[0][0] == winner


def test_ties_break_on_the_item_for_a_stable_order() -> None:
    fused = reciprocal_rank_fusion([[5], [7]])
    assert [item for item, _ in fused] == [5, 7]


def test_weights_must_match_rankings() -> None:
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[1], [2]], [1.0])
