"""`POST /v1/sites/{site}/connection-test` in the real serving process: each of the plugin's
three credentials is judged on its own and named when wrong; the answer is signed with the
site's webhook secret; nothing reaches the inbox; unknown sites look like wrong secrets."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from pressrag.resources.webhooks import sign, signature_matches
from tests.conftest import IndexedSites, SiteInfo
from tests.support.serving import ADMIN_KEY, ServingServer, mint_token

pytestmark = pytest.mark.integration

WRONG_SECRET = "whsec_" + base64.b64encode(hashlib.sha256(b"wrong").digest()).decode()


@pytest.fixture(scope="module")
def http(
    indexed_sites: IndexedSites, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("serving-connection") / "server.log"
    with (
        ServingServer(log, PRESSRAG_RATE_LIMIT_CLIENT_BURST="1000") as server,
        server.client() as client,
    ):
        yield client


def key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def connection_test(
    http: httpx.Client,
    site: SiteInfo,
    *,
    webhook_secret: str | None = None,
    token_secret: str | None = None,
    admin_key: str | None = ADMIN_KEY,
    origin: str | None = None,
    stamp: int | None = None,
    site_id: str | None = None,
) -> httpx.Response:
    """What the plugin sends: a token in a body signed like a webhook, the admin key."""
    token = mint_token(token_secret or site.token_secret, site.id, origin or site.origin)
    body = json.dumps({"token": token}).encode()
    msg_id, stamp = "msg_conn_test", stamp or int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(key(webhook_secret or site.webhook_secret), msg_id, stamp, body),
    }
    if admin_key:
        headers["Authorization"] = f"Bearer {admin_key}"
    return http.post(
        f"/v1/sites/{site_id or site.id}/connection-test", content=body, headers=headers
    )


def verdicts(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    report = response.json()
    return {
        name: report[name]["code"] for name in ("webhook_secret", "token_secret", "admin_api_key")
    }


def inbox_count(site_id: str) -> int:
    import os

    from pressrag.resources.store import Store

    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as conn:
        return conn.execute("SELECT count(*) FROM inbox WHERE site_id = %s", (site_id,)).fetchone()[
            0
        ]


def test_all_three_work_and_the_answer_is_signed(
    http: httpx.Client, indexed_sites: IndexedSites
) -> None:
    site = indexed_sites.sites["other"]
    before = inbox_count(site.id)
    response = connection_test(http, site)
    assert verdicts(response) == {
        "webhook_secret": "ok",
        "token_secret": "ok",
        "admin_api_key": "ok",
    }
    assert response.json()["ok"] is True and response.json()["site"] == "other"
    assert signature_matches(
        [key(site.webhook_secret)],
        response.headers["webhook-id"],
        response.headers["webhook-timestamp"],
        response.content,
        response.headers["webhook-signature"],
    ), "the plugin can check that the answer comes from the backend holding its secret"
    assert not signature_matches(
        [key(WRONG_SECRET)],
        response.headers["webhook-id"],
        response.headers["webhook-timestamp"],
        response.content,
        response.headers["webhook-signature"],
    )
    assert inbox_count(site.id) == before, "a connection test stores nothing"


@pytest.mark.parametrize(
    ("wrong", "expected"),
    [
        ({"webhook_secret": WRONG_SECRET}, {"webhook_secret": "invalid_signature"}),
        ({"token_secret": WRONG_SECRET}, {"token_secret": "invalid_token"}),
        ({"admin_key": "not-the-admin-key"}, {"admin_api_key": "invalid"}),
        ({"admin_key": None}, {"admin_api_key": "missing"}),
        ({"origin": "https://elsewhere.example"}, {"token_secret": "origin_not_allowed"}),
        ({"stamp": int(time.time()) - 3600}, {"webhook_secret": "stale_timestamp"}),
    ],
)
def test_the_one_that_does_not_work_is_named(
    http: httpx.Client, indexed_sites: IndexedSites, wrong: dict, expected: dict[str, str]
) -> None:
    response = connection_test(http, indexed_sites.sites["other"], **wrong)
    assert verdicts(response) == {
        "webhook_secret": "ok",
        "token_secret": "ok",
        "admin_api_key": "ok",
        **expected,
    }
    assert response.json()["ok"] is False
    name = next(iter(expected))
    assert response.json()[name]["message"]


def test_secrets_of_another_site_are_refused(
    http: httpx.Client, indexed_sites: IndexedSites
) -> None:
    other, demo = indexed_sites.sites["other"], indexed_sites.sites["demo"]
    response = connection_test(
        http, other, webhook_secret=demo.webhook_secret, token_secret=demo.token_secret
    )
    assert verdicts(response)["webhook_secret"] == "invalid_signature"
    assert verdicts(response)["token_secret"] == "invalid_token"


def test_unknown_site_looks_like_wrong_secrets_without_the_admin_key(
    http: httpx.Client, indexed_sites: IndexedSites
) -> None:
    site = indexed_sites.sites["other"]
    response = connection_test(http, site, site_id="no-such-site", admin_key=None)
    assert verdicts(response) == {
        "webhook_secret": "invalid_signature",
        "token_secret": "invalid_token",
        "admin_api_key": "missing",
    }
    assert "webhook-signature" not in response.headers
    with_admin = connection_test(http, site, site_id="no-such-site")
    assert with_admin.status_code == 404 and with_admin.json()["error"] == "unknown_site"


def test_malformed_bodies_get_clear_errors(http: httpx.Client) -> None:
    for body in (b"not json", b'{"token": 5}', b"[]"):
        response = http.post("/v1/sites/other/connection-test", content=body)
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "invalid_request"
