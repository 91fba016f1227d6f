"""Vectors shaped like a real model's, at ~0 cost, for the ~0-cost embedder of bench/scale.py.

The fake OpenAI API's own vectors are seeded by a hash of each text: uniformly random in 384
dimensions, which no text model makes and which is the worst case for HNSW. Building the
index over 23,500 chunk-sized texts made as this benchmark makes them took 13.5–14.6 s with
them, against 8.0–8.3 s with all-MiniLM-L6-v2's vectors of the same texts (search recall@10
0.55 against 0.93). Here a text's vector is the mean of that model's vectors of its words (a static
embedding, the kind model2vec distils): 6.9–9.5 s to build, recall@10 0.94, ~60 µs a text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy.sparse import csr_matrix

from tests.support.fake_openai import seeded_unit_vector

_WORD = re.compile(r"[a-z]+")


class WordMeanVectors:
    """A fake embeddings endpoint's `vectors`: each text → the normalized mean of its known
    words' vectors; a text with no known word gets the fake's seeded vector."""

    def __init__(self, words: Sequence[str], table: np.ndarray) -> None:
        if len(words) != len(table):
            raise ValueError(f"{len(words)} words but {len(table)} vectors")
        self._row = {word: i for i, word in enumerate(words)}
        self._table = np.asarray(table, dtype=np.float32)

    @classmethod
    def from_model(cls, words: Sequence[str]) -> WordMeanVectors:
        """Each word embedded by all-MiniLM-L6-v2 as serving runs it (ONNX, int8): ~2 s."""
        from pressrag.resources.embedders.local import LocalEmbedder

        model = LocalEmbedder(backend="onnx-int8", threads=0, batch_size=64)
        return cls(words, model.embed(list(words)))

    @property
    def dimension(self) -> int:
        return self._table.shape[1]

    def __call__(self, texts: list[str], dimension: int) -> np.ndarray:
        if dimension != self.dimension:
            raise ValueError(f"word vectors have {self.dimension} dimensions, not {dimension}")
        rows = [[self._row[w] for w in _WORD.findall(t.lower()) if w in self._row] for t in texts]
        # One sparse product for the batch: a text's row counts its words.
        starts = np.cumsum([0, *map(len, rows)])
        columns = np.fromiter((r for text in rows for r in text), dtype=np.int64, count=starts[-1])
        counts = csr_matrix(
            (np.ones(len(columns), dtype=np.float32), columns, starts),
            shape=(len(texts), len(self._table)),
        )
        sums = np.asarray(counts @ self._table, dtype=np.float32).reshape(-1, dimension)
        for i, text in enumerate(texts):
            if not rows[i]:
                sums[i] = seeded_unit_vector(text, dimension)
        return sums / np.linalg.norm(sums, axis=1, keepdims=True)
