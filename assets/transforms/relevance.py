"""Retrieval quality measures (binary relevance) and a paired significance test.

Shared by the quality benchmark (bench/quality.py), its CI test and the per-site quality
check, so that a figure means the same thing wherever it is printed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

CUTOFF = 10


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = CUTOFF) -> float:
    """nDCG@k with gains 2^rel - 1, as trec_eval computes it."""
    dcg = sum(
        (2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:k])
    )
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum((2**gain - 1) / math.log2(i + 2) for i, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = CUTOFF) -> float:
    wanted = {doc for doc, gain in relevant.items() if gain > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def reciprocal_rank_at(
    ranked: Sequence[str], relevant: Mapping[str, int], k: int = CUTOFF
) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


MEASURES = {"nDCG@10": ndcg_at, "R@10": recall_at, "MRR@10": reciprocal_rank_at}


def per_query(
    run: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, float]]:
    """measure -> query id -> value; a query missing from the run scores 0."""
    return {
        name: {q: measure(run.get(q, []), rel) for q, rel in qrels.items()}
        for name, measure in MEASURES.items()
    }


def mean(values: Mapping[str, float]) -> float:
    return sum(values.values()) / len(values) if values else 0.0


def paired_randomisation_test(
    a: Sequence[float], b: Sequence[float], *, permutations: int = 10_000, seed: int = 0
) -> float:
    """Two-sided p-value that the mean per-query difference a - b is chance: each query's
    pair is swapped at random (Fisher's randomisation test; the same draws as
    ../shared/eval/baseline.py, so the two print the same p for the same runs)."""
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diffs.size == 0:
        return 1.0
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(permutations, diffs.size))
    extreme = np.abs((signs * diffs).mean(axis=1)) >= abs(diffs.mean()) - 1e-12
    return float((extreme.sum() + 1) / (permutations + 1))
