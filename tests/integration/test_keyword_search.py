"""`keyword_search`, the full-text half of the hybrid search that serving degrades to when no
provider can embed a question: the same site scoping and filters in SQL, ranked by keyword
evidence, no vector distance."""

from __future__ import annotations

import os

import pytest

from pressrag.resources.store import Store
from pressrag.resources.store.search import SearchFilters, keyword_search
from pressrag.resources.store.spaces import active_space
from tests.conftest import IndexedSites

pytestmark = pytest.mark.integration


def _keywords(site: str, text: str, filters: SearchFilters | None = None, k: int = 10):
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as c:
        space = active_space(c)
        assert space is not None
        hits = keyword_search(c, site_id=site, space=space, query_text=text, k=k, filters=filters)
        sites = {
            r[0]
            for r in c.execute(
                "SELECT DISTINCT site_id FROM chunks WHERE id = ANY(%s)",
                ([h.chunk_id for h in hits],),
            )
        }
    return hits, sites


def test_keyword_hits_are_ranked_documents_without_vector_evidence(
    indexed_sites: IndexedSites,
) -> None:
    hits, sites = _keywords("demo", "default argument values evaluated once", k=8)
    assert hits and sites == {"demo"}
    assert len(hits) == len({h.document_id for h in hits}) <= 8
    assert "Default Argument Values" in [h.title for h in hits]
    assert all(h.vector_distance is None and h.text_score is not None for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("filters", [None, SearchFilters(post_types=["post", "page"])])
def test_keyword_search_never_leaves_the_site(indexed_sites: IndexedSites, filters) -> None:
    hits, sites = _keywords("other", "python starter dough flour modules", filters, k=20)
    assert hits and sites == {"other"}


def test_keyword_search_keeps_the_filters(indexed_sites: IndexedSites) -> None:
    pages, _ = _keywords("demo", "python", SearchFilters(post_types=["page"]), k=20)
    assert pages and all(h.doc_type == "page" for h in pages)
    none, _ = _keywords("demo", "python", SearchFilters(post_types=["no-such-type"]), k=20)
    assert none == []
    nothing, _ = _keywords("demo", "zzqx unheardof", k=5)  # no chunk holds these words
    assert nothing == []
