"""bench/word_vectors.py: the ~0-cost embedder's vectors follow the words of each text."""

from __future__ import annotations

import numpy as np
import pytest

from bench.word_vectors import WordMeanVectors
from tests.support.fake_openai import seeded_unit_vector

WORDS = ["apple", "banana", "cherry", "delta"]
TABLE = np.eye(4, dtype=np.float32)


def test_a_text_is_the_normalized_mean_of_its_known_words() -> None:
    vectors = WordMeanVectors(WORDS, TABLE)(["Apple, apple and CHERRY!", "banana"], 4)
    assert vectors.shape == (2, 4) and vectors.dtype == np.float32
    assert np.allclose(vectors[0], np.array([2, 0, 1, 0]) / np.sqrt(5))
    assert np.allclose(vectors[1], [0, 1, 0, 0])


def test_texts_sharing_words_are_nearer_than_texts_that_do_not() -> None:
    rng = np.random.default_rng(0)
    table = rng.standard_normal((4, 16)).astype(np.float32)
    a, b, c = WordMeanVectors(WORDS, table)(["apple banana", "apple banana cherry", "delta"], 16)
    assert a @ b > 0.5 > abs(a @ c)


def test_a_text_without_known_words_gets_the_fakes_seeded_vector() -> None:
    (vector,) = WordMeanVectors(WORDS, TABLE)(["zebra 42"], 4)
    assert np.allclose(vector, seeded_unit_vector("zebra 42", 4))


def test_equal_texts_get_equal_vectors_and_empty_input_no_rows() -> None:
    vectors = WordMeanVectors(WORDS, TABLE)
    assert np.array_equal(vectors(["delta apple"], 4), vectors(["delta apple"], 4))
    assert vectors([], 4).shape == (0, 4)


def test_another_dimension_or_a_mismatched_table_is_refused() -> None:
    with pytest.raises(ValueError, match="4 dimensions, not 8"):
        WordMeanVectors(WORDS, TABLE)(["apple"], 8)
    with pytest.raises(ValueError, match="4 words but 3 vectors"):
        WordMeanVectors(WORDS, TABLE[:3])
