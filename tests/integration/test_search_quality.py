"""Search quality in CI: a small pyfaq sample through the real pipeline and `/v1/search`.

The full benchmark (`make bench-quality`, bench/quality.py) runs on all of pyfaq with a dense
baseline; this keeps its central promise in every build: the fused search never ranks answers
worse than its own vector side.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PressragEnv

pytestmark = pytest.mark.integration

MINI = Path(__file__).resolve().parents[1] / "data" / "pyfaq-mini"


def test_hybrid_search_is_never_worse_than_its_vector_side(
    pressrag_env: PressragEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench import quality
    from pressrag.assets.transforms.relevance import mean, per_query

    corpus, queries, qrels = quality.load_set(MINI)
    site = quality.build_site(corpus, tmp_path)
    assert site["documents"] == len(corpus)
    monkeypatch.setenv("PRESSRAG_ADMIN_API_KEY", "replaced-by-the-benchmark")
    product, _ = quality.product_run(queries)
    _, rank = quality.evidence_runs(queries)
    scores = {
        name: mean(per_query(run, qrels)["nDCG@10"])
        for name, run in (
            ("product", product),
            ("vector", rank(retrieval="vector")),
            ("text", rank(retrieval="text")),
        )
    }
    print(f"pyfaq-mini nDCG@10: {scores}")
    assert scores["product"] >= scores["vector"], scores
    assert scores["product"] >= scores["text"], scores
    # Far above chance on this set (a broken side or pipeline lands well below it).
    assert scores["product"] >= 0.75, scores
