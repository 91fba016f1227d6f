"""Rate limits per client and per site on a real server process with small limits (shared by
replicas: tests/integration/test_shared_rate_limits.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import IndexedSites
from tests.support.serving import ADMIN_KEY, ServingServer, mint_token

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(
    indexed_sites: IndexedSites, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServingServer]:
    log = tmp_path_factory.mktemp("serving-limits") / "server.log"
    with ServingServer(
        log,
        PRESSRAG_RATE_LIMIT_CLIENT_BURST="3",
        PRESSRAG_RATE_LIMIT_CLIENT_PER_MINUTE="1",
        PRESSRAG_RATE_LIMIT_SITE_BURST="5",
        PRESSRAG_RATE_LIMIT_SITE_PER_MINUTE="1",
    ) as running:
        yield running


def test_client_then_site_limits(server: ServingServer, indexed_sites: IndexedSites) -> None:
    demo = indexed_sites.sites["demo"]

    def search(client: httpx.Client, visitor: str, **claims: str) -> httpx.Response:
        token = mint_token(demo.token_secret, "demo", demo.origin, sub=visitor, **claims)
        return client.post(
            "/v1/search",
            json={"site": "demo", "query": "generators"},
            headers={"Authorization": f"Bearer {token}"},
        )

    with server.client() as client:
        visitor_a, visitor_b = "a" * 32, "b" * 32
        # Fresh token ids do not make fresh buckets (finding 7): the visitor subject decides.
        statuses = [search(client, visitor_a, jti=f"token-{i}").status_code for i in range(3)]
        assert statuses == [200] * 3
        limited = search(client, visitor_a, jti="token-3")
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"] == "rate_limited"
        assert "client" in limited.json()["message"]

        # Another visitor has their own bucket, until the site's (5) is used up.
        assert [search(client, visitor_b).status_code for _ in range(2)] == [200, 200]
        site_limited = search(client, visitor_b)
        assert site_limited.status_code == 429 and "site" in site_limited.json()["message"]

        # Server-to-server calls with the admin key are not limited by default.
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for _ in range(4):
            ok = client.post("/v1/search", json={"site": "demo", "query": "x"}, headers=admin)
            assert ok.status_code == 200


def test_a_site_key_counts_in_its_site_bucket_only(server: ServingServer) -> None:
    """A site API key is a server integration, not a visitor: no per-client bucket (3 here),
    its site's (5) only."""
    from pressrag.orchestration.gateway import create_key

    key = create_key("other", ["search"], "limits test").key
    headers = {"Authorization": f"Bearer {key}"}
    with server.client() as client:
        statuses = [
            client.post(
                "/v1/search", json={"site": "other", "query": "sourdough"}, headers=headers
            ).status_code
            for _ in range(6)
        ]
    assert statuses == [200] * 5 + [429]
