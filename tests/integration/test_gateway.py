"""The gateway on the real serving process and PostgreSQL: per-site API keys, the usage ledger
and its nightly rollup, budgets and quotas, the answer cache, trusted proxies (issue 13;
docs/operations.md, "Keys, usage, budgets").

A site of its own (`gw`, a fake WordPress REST site about three unrelated subjects) is indexed
through Dagster for this module, so editing, deleting and refusing content here never disturbs
the session's shared sites; `demo` is used read-only, for isolation checks. One serving process
serves the whole module.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import httpx
import pytest

from tests.conftest import REPO_ROOT, SAMPLE_WXR, IndexedSites, site_info
from tests.support.fake_wordpress import FakeWordPress
from tests.support.ledger import db, eventually
from tests.support.serving import ServingServer, mint_token

pytestmark = pytest.mark.integration

POSTS = [
    {
        "title": "Restoring a brass sundial",
        "content": "<p>To restore a brass sundial, clean the gnomon with lemon juice and salt, "
        "then polish the dial plate with a soft cloth and a little beeswax.</p>",
    },
    {
        "title": "Keeping bees in winter",
        "content": "<p>In winter the bees cluster around the queen and shiver their flight "
        "muscles to keep the centre of the hive at about thirty degrees.</p>",
    },
    {
        "title": "Tuning a harpsichord",
        "content": "<p>A harpsichord is tuned one string at a time with a tuning hammer, "
        "starting from the A above middle C and tempering the fifths slightly narrow.</p>",
    },
]
SUNDIAL_Q = "How do I restore a brass sundial?"
BEES_Q = "How do bees keep the hive warm in winter?"
CLI = [sys.executable, "-m", "pressrag.orchestration.cli"]


def cli(*args: str) -> str:
    done = subprocess.run(
        [*CLI, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def wordpress() -> Iterator[FakeWordPress]:
    with FakeWordPress() as site:
        for post in POSTS:
            site.upsert(post)
        yield site


@pytest.fixture(scope="module")
def gw(indexed_sites: IndexedSites, wordpress: FakeWordPress) -> dict[str, str]:
    """The module's site, indexed; returns its first admin key (from `sites add`)."""
    from pressrag.orchestration.run import index_site_now
    from pressrag.orchestration.sites import add_site

    added = add_site("gw", url=wordpress.base_url)
    assert added.new_admin_key and added.new_admin_key.startswith("prk_")
    assert index_site_now("gw")
    return {"admin": added.new_admin_key}


@pytest.fixture(scope="module")
def keys(gw: dict[str, str]) -> dict[str, str]:
    from pressrag.orchestration.gateway import create_key

    return {
        "gw_admin": gw["admin"],
        "gw_search": create_key("gw", ["search"], "search only").key,
        "gw_ask": create_key("gw", ["ask"], "ask only").key,
        "demo_admin": create_key("demo", ["admin"], "demo admin").key,
    }


@pytest.fixture(scope="module")
def server(gw: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingServer]:
    log = tmp_path_factory.mktemp("serving-gateway") / "server.log"
    with ServingServer(
        log,
        PRESSRAG_SITE_CACHE_SECONDS="0",  # a revoked key or a new budget applies at once
        PRESSRAG_BUDGET_CACHE_SECONDS="0",
        PRESSRAG_USAGE_FLUSH_SECONDS="0.1",
        PRESSRAG_RATE_LIMIT_CLIENT_BURST="100000",
        PRESSRAG_RATE_LIMIT_SITE_BURST="100000",
        PRESSRAG_RATE_LIMIT_SITE_PER_MINUTE="100000",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: ServingServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def browser(site: str) -> dict[str, str]:
    info = site_info(site)
    return bearer(mint_token(info.token_secret, site, info.origin, sub="v" * 32))


def usage(http: httpx.Client, site: str, key: str) -> dict:
    response = http.get(f"/v1/sites/{site}/usage", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()


def model_calls(usage_report: dict, purpose: str) -> int:
    return sum(m["calls"] for m in usage_report["models"] if m["purpose"] == purpose)


@pytest.fixture
def budgets() -> Iterator[Callable[..., None]]:
    """Set budgets of `gw` for one test; always cleared afterwards."""
    from pressrag.orchestration.gateway import set_budgets

    def apply(**limits: float | None) -> None:
        set_budgets("gw", **limits)

    yield apply
    set_budgets(
        "gw",
        requests_per_minute=None,
        requests_per_day=None,
        tokens_per_month=None,
        cost_per_month_usd=None,
    )


# ---------------------------------------------------------------------- keys
def test_sites_add_prints_the_first_admin_key_once_and_stores_only_its_hash(
    indexed_sites: IndexedSites,
) -> None:
    first = cli("sites", "add", "gwcli", "--wxr", str(SAMPLE_WXR))
    assert "webhook secret" in first and "token secret" in first
    key_line = next(line for line in first.splitlines() if "admin API key" in line)
    key = key_line.rsplit(" ", 1)[1]
    assert key.startswith("prk_") and len(key) == 47
    assert "admin API key" not in cli("sites", "add", "gwcli", "--wxr", str(SAMPLE_WXR))
    with db() as conn:
        rows = conn.execute(
            "SELECT key_hash, hint, scopes, row_to_json(k)::text FROM api_keys k "
            "WHERE site_id = 'gwcli'"
        ).fetchall()
    assert len(rows) == 1
    digest, hint, scopes, whole_row = rows[0]
    assert bytes(digest) == hashlib.sha256(key.encode()).digest() and scopes == ["admin"]
    assert key not in whole_row and key[4:] not in whole_row and hint.endswith(key[-4:])
    # Listed without the secret; created and revoked from the command line.
    listed = cli("keys", "list", "--site", "gwcli")
    assert hint in listed and key not in listed
    created = cli("keys", "create", "--site", "gwcli", "--scope", "search", "--name", "rotation")
    key_id = created.split()[0]
    assert key_id.startswith("key_") and "prk_" in created
    assert f"revoked {key_id}" in cli("keys", "revoke", key_id, "--site", "gwcli")


def test_a_site_key_never_reaches_another_site(
    http: httpx.Client, keys: dict[str, str], indexed_sites: IndexedSites
) -> None:
    gw_admin, demo_admin = bearer(keys["gw_admin"]), bearer(keys["demo_admin"])
    assert http.get("/v1/sites/gw/status", headers=gw_admin).status_code == 200
    assert http.get("/v1/sites/demo/status", headers=demo_admin).status_code == 200
    with db() as conn:
        demo_events = conn.execute("SELECT count(*) FROM inbox WHERE site_id = 'demo'").fetchone()
    for method, path, body in (
        ("GET", "/v1/sites/demo/status", None),
        ("GET", "/v1/sites/demo/usage", None),
        ("POST", "/v1/sites/demo/reindex", None),
        ("POST", "/v1/search", {"site": "demo", "query": "generators"}),
        ("POST", "/v1/ask", {"site": "demo", "question": "What is a generator?"}),
        ("GET", "/v1/sites/nosuch/status", None),  # an unknown site: the same answer
    ):
        response = http.request(method, path, json=body, headers=gw_admin)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "wrong_site"
    with db() as conn:
        after = conn.execute("SELECT count(*) FROM inbox WHERE site_id = 'demo'").fetchone()
    assert after == demo_events  # nothing of demo was changed


def test_scopes_decide_what_a_key_may_do(http: httpx.Client, keys: dict[str, str]) -> None:
    search = {"site": "gw", "query": "sundial"}
    ask = {"site": "gw", "question": SUNDIAL_Q}
    assert (
        http.post("/v1/search", json=search, headers=bearer(keys["gw_search"])).status_code == 200
    )
    refused = http.post("/v1/ask", json=ask, headers=bearer(keys["gw_search"]))
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    assert http.post("/v1/ask", json=ask, headers=bearer(keys["gw_ask"])).status_code == 200
    for key in ("gw_search", "gw_ask"):
        status = http.get("/v1/sites/gw/status", headers=bearer(keys[key]))
        assert status.status_code == 403, status.text
        assert status.json()["error"] == "insufficient_scope"
    # A browser token may search and ask, never administer.
    status = http.get("/v1/sites/gw/status", headers=browser("gw"))
    assert status.status_code == 403 and status.json()["error"] == "insufficient_scope"


def test_a_revoked_key_stops_working_and_others_go_on(
    http: httpx.Client, gw: dict[str, str], server: ServingServer
) -> None:
    from pressrag.orchestration.gateway import create_key, list_keys, revoke_key

    old, new = create_key("gw", ["search"], "old"), create_key("gw", ["search"], "new")
    query = {"site": "gw", "query": "harpsichord"}
    assert http.post("/v1/search", json=query, headers=bearer(old.key)).status_code == 200
    revoke_key(old.info.id, "gw")
    refused = http.post("/v1/search", json=query, headers=bearer(old.key))
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_key"
    assert old.key not in refused.text
    assert http.post("/v1/search", json=query, headers=bearer(new.key)).status_code == 200
    listed = {k.id: k for k in list_keys("gw")}
    assert listed[old.info.id].revoked_at is not None and listed[new.info.id].active
    assert listed[new.info.id].last_used_at is not None
    assert old.key not in server.log_text() and new.key not in server.log_text()


def test_reindex_with_the_site_key_queues_a_full_reconcile(
    http: httpx.Client, keys: dict[str, str]
) -> None:
    response = http.post("/v1/sites/gw/reindex", headers=bearer(keys["gw_admin"]))
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]
    with db() as conn:
        row = conn.execute(
            "SELECT site_id, event_type, status FROM inbox WHERE event_id = %s", (event_id,)
        ).fetchone()
        # Leave the inbox as it was: no daemon runs here to process it.
        conn.execute("DELETE FROM inbox WHERE event_id = %s", (event_id,))
    assert row == ("gw", "site.reindex_requested", "pending")


def test_connection_test_accepts_the_site_admin_key(
    http: httpx.Client, keys: dict[str, str]
) -> None:
    from pressrag.resources.webhooks import sign

    info = site_info("gw")

    def admin_verdict(key: str) -> str:
        body = json.dumps({"token": mint_token(info.token_secret, "gw", info.origin)}).encode()
        stamp = int(time.time())
        secret = base64.b64decode(info.webhook_secret.removeprefix("whsec_"))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": "msg_conn_gw",
            "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, "msg_conn_gw", stamp, body),
            **bearer(key),
        }
        report = http.post("/v1/sites/gw/connection-test", content=body, headers=headers)
        assert report.status_code == 200, report.text
        return report.json()["admin_api_key"]["code"]

    assert admin_verdict(keys["gw_admin"]) == "ok"
    assert admin_verdict(keys["demo_admin"]) == "invalid"  # another site's admin key
    assert admin_verdict(keys["gw_search"]) == "insufficient_scope"


# ---------------------------------------------------------------------- ledger
def test_every_request_and_model_call_is_in_the_ledger(
    http: httpx.Client, keys: dict[str, str]
) -> None:
    admin = keys["gw_admin"]
    before = usage(http, "gw", admin)
    stamp = time.time_ns()
    for i in range(3):  # unique texts: no query-vector cache, no answer cache
        ok = http.post(
            "/v1/search",
            json={"site": "gw", "query": f"sundial {stamp} {i}"},
            headers=browser("gw"),
        )
        assert ok.status_code == 200
    for question in (SUNDIAL_Q, BEES_Q):
        answer = http.post(
            "/v1/ask",
            json={"site": "gw", "question": f"{question} ({stamp})"},
            headers=browser("gw"),
        )
        assert answer.status_code == 200 and answer.json()["mode"] == "extractive"
        assert answer.json()["provider"] == "local" and answer.json()["cached"] is False

    def caught_up() -> bool:
        now = usage(http, "gw", admin)
        return now["requests"] - before["requests"] >= 5 and (
            model_calls(now, "answer") - model_calls(before, "answer") >= 2
        )

    eventually(caught_up)
    time.sleep(0.5)  # and nothing more than expected arrives after them
    after = usage(http, "gw", admin)
    assert after["requests"] - before["requests"] == 5
    assert model_calls(after, "question_embedding") - model_calls(before, "question_embedding") == 5
    assert model_calls(after, "answer") - model_calls(before, "answer") == 2
    assert model_calls(after, "index_embedding") >= 1  # the module's indexing run
    assert after["tokens"] > before["tokens"]
    assert after["cost_usd"] == before["cost_usd"] == 0.0  # local models cost nothing
    with db() as conn:
        row = conn.execute(
            "SELECT provider, model, outcome, input_tokens, latency_ms, cost_usd, priced "
            "FROM usage_events WHERE site_id = 'gw' AND purpose = 'question_embedding' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    provider, model, outcome, tokens, latency, cost, priced = row
    assert (provider, outcome, cost, priced) == ("local", "ok", 0, True)
    assert model.startswith("local:") and tokens > 0 and latency > 0
    # The same numbers from the command line.
    report = json.loads(cli("usage", "--site", "gw", "--json"))
    assert sum(d["requests"] for d in report["days"]) == after["requests"]
    assert sum(d["tokens"] for d in report["days"]) == after["tokens"]


def test_usage_daily_rolls_up_a_day_and_prunes_old_events(http: httpx.Client) -> None:
    from pressrag.assets.gateway.usage import usage_daily
    from pressrag.resources.dagster_resources import StoreResource

    today = datetime.now(UTC).date()
    old = datetime.now(UTC) - timedelta(days=400)
    with db() as conn:
        conn.execute(
            "INSERT INTO usage_events (at, site_id, purpose, provider, model, outcome) "
            "VALUES (%s, 'gw', 'answer', 'local', 'extractive', 'ok')",
            (old,),
        )
        counters = conn.execute(
            "SELECT sum(calls), sum(input_tokens + output_tokens) FROM usage_counters "
            "WHERE site_id = 'gw' AND day = %s",
            (today,),
        ).fetchone()
    result = dg.materialize(
        [usage_daily],
        partition_key=today.isoformat(),
        resources={"store": StoreResource()},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    metadata = result.asset_materializations_for_node("usage_daily")[0].metadata
    assert metadata["pruned_events"].value >= 1
    sites = {r.data["site"]: r.data for r in metadata["per_site"].value.records}
    with db() as conn:
        rolled = conn.execute(
            "SELECT calls, input_tokens + output_tokens, requests, latency_p95_ms "
            "FROM usage_daily WHERE site_id = 'gw' AND day = %s",
            (today,),
        ).fetchone()
        leftover = conn.execute(
            "SELECT count(*) FROM usage_events WHERE at < %s", (old + timedelta(days=1),)
        ).fetchone()
    assert leftover == (0,)
    assert rolled[:2] == tuple(int(v) for v in counters)  # the raw events agree with the totals
    assert sites["gw"]["calls"] == rolled[0] and sites["gw"]["requests"] == rolled[2]
    assert rolled[3] is not None and metadata["model_calls"].value >= rolled[0]
    chart = metadata["per_day"].value
    assert today.isoformat() in chart and "█" in chart


# ---------------------------------------------------------------------- budgets
def test_requests_per_day_budget_answers_429_naming_it(
    http: httpx.Client, gw: dict[str, str], budgets: Callable[..., None]
) -> None:
    admin = bearer(gw["admin"])
    served_today = http.get(
        "/v1/sites/gw/usage", headers=admin, params={"since": datetime.now(UTC).date().isoformat()}
    ).json()["requests"]
    budgets(requests_per_day=served_today + 2)
    query = {"site": "gw", "query": "beehive"}
    visitor = browser("gw")
    served = [http.post("/v1/search", json=query, headers=visitor).status_code for _ in "ab"]
    assert served == [200, 200]

    def refused() -> bool:
        return http.post("/v1/search", json=query, headers=visitor).status_code == 429

    eventually(refused)  # once the ledger has the two requests (it writes every 0.1 s here)
    response = http.post("/v1/search", json=query, headers=visitor)
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "budget_exhausted" and body["budget"] == "requests_per_day"
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    assert body["resets_at"].startswith(tomorrow.isoformat())
    assert 1 <= int(response.headers["retry-after"]) <= 86400
    eventually(lambda: http.get("/v1/sites/gw/usage", headers=admin).json()["refused"] >= 1)


def test_monthly_token_budget_warns_then_refuses_until_next_month(
    http: httpx.Client, gw: dict[str, str], budgets: Callable[..., None]
) -> None:
    admin = bearer(gw["admin"])
    used = http.get("/v1/sites/gw/usage", headers=admin).json()["tokens"]
    assert used > 0
    budgets(tokens_per_month=int(used / 0.85))  # 85 % used: a warning, still served
    status = http.get("/v1/sites/gw/status", headers=admin).json()
    assert status["budget"]["state"] == "warning"
    (line,) = status["budget"]["lines"]
    assert line["name"] == "tokens_per_month" and 0.8 <= line["share"] < 1
    out = cli("status", "--site", "gw")
    assert "budget tokens_per_month" in out and "warning" in out
    served = http.post("/v1/search", json={"site": "gw", "query": "bees"}, headers=browser("gw"))
    assert served.status_code == 200

    budgets(tokens_per_month=max(1, used // 2))  # used up
    refused = http.post("/v1/ask", json={"site": "gw", "question": BEES_Q}, headers=browser("gw"))
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"] == "budget_exhausted" and body["budget"] == "tokens_per_month"
    assert "tokens_per_month" in body["message"]
    next_month = (datetime.now(UTC).replace(day=28) + timedelta(days=4)).replace(day=1)
    assert body["resets_at"].startswith(next_month.date().isoformat())
    assert int(refused.headers["retry-after"]) >= 1
    assert http.get("/v1/sites/gw/status", headers=admin).json()["budget"]["state"] == "exhausted"


def test_an_indexing_run_that_would_pass_the_budget_fails_before_embedding(
    http: httpx.Client,
    gw: dict[str, str],
    wordpress: FakeWordPress,
    budgets: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pressrag.orchestration.run import index_site_now

    admin = bearer(gw["admin"])
    used = http.get("/v1/sites/gw/usage", headers=admin).json()["tokens"]
    before = model_calls(http.get("/v1/sites/gw/usage", headers=admin).json(), "index_embedding")
    post = wordpress.upsert(
        {"title": "Glazing a teapot", "content": "<p>Dip the bisque teapot in celadon glaze.</p>"}
    )
    budgets(tokens_per_month=used + 1)
    assert not index_site_now("gw", wp_ids=[post["id"]])
    assert "would pass the site's tokens_per_month budget" in capsys.readouterr().err
    found = http.post("/v1/search", json={"site": "gw", "query": "celadon teapot"}, headers=admin)
    assert "Glazing a teapot" not in found.text
    after = model_calls(http.get("/v1/sites/gw/usage", headers=admin).json(), "index_embedding")
    assert after == before  # nothing was sent to the model

    budgets(tokens_per_month=None)
    assert index_site_now("gw", wp_ids=[post["id"]])
    eventually(
        lambda: (
            model_calls(http.get("/v1/sites/gw/usage", headers=admin).json(), "index_embedding")
            > before
        )
    )
    found = http.post("/v1/search", json={"site": "gw", "query": "celadon teapot"}, headers=admin)
    assert found.json()["hits"][0]["title"] == "Glazing a teapot"


# ---------------------------------------------------------------------- answer cache
def test_a_cached_answer_lives_exactly_as_long_as_its_sources(
    http: httpx.Client, gw: dict[str, str], wordpress: FakeWordPress
) -> None:
    from pressrag.orchestration.run import index_site_now

    def ask(question: str = "How is a harpsichord tuned?", **extra: object) -> dict:
        response = http.post(
            "/v1/ask", json={"site": "gw", "question": question, **extra}, headers=browser("gw")
        )
        assert response.status_code == 200, response.text
        return response.json()

    first = ask()
    assert first["mode"] == "extractive" and not first["cached"] and first["citations"]
    again = ask("  how is a HARPSICHORD tuned  ")  # the same question, normalised
    assert again["cached"] and again["answer"] == first["answer"]
    assert again["citations"] == first["citations"] and again["provider"] == "local"
    assert not ask(k=3)["cached"]  # another k is another question
    streamed = http.post(
        "/v1/ask",
        json={"site": "gw", "question": "How is a harpsichord tuned?"},
        headers={**browser("gw"), "Accept": "text/event-stream"},
    )
    assert '"cached":true' in streamed.text.replace(" ", "")
    assert first["answer"][:40] in streamed.text

    # Edit the cited post: the cached answer is gone at once, the new text answers.
    post_id = next(i for i, p in enumerate(POSTS, start=1) if "harpsichord" in p["title"].lower())
    wordpress.upsert(
        {
            "id": post_id,
            "content": "<p>A harpsichord is tuned with an electronic tuner and a tuning hammer, "
            "one string at a time, in equal temperament.</p>",
        }
    )
    assert index_site_now("gw", wp_ids=[post_id])
    edited = ask()
    assert not edited["cached"] and "electronic tuner" in edited["answer"]
    assert ask()["cached"]

    # Delete it: no cached answer may cite what is gone.
    wordpress.delete(post_id)
    assert index_site_now("gw", wp_ids=[post_id])
    gone = ask()
    assert not gone["cached"] and "electronic tuner" not in gone["answer"]
    metrics = http.get("/metrics").text
    assert 'pressrag_answer_cache_total{result="hit"}' in metrics
    assert 'pressrag_answer_cache_total{result="miss"}' in metrics


def test_the_answer_cache_is_bounded(http: httpx.Client, gw: dict[str, str]) -> None:
    from pressrag.resources.gateway import answer_cache
    from pressrag.resources.store import Store

    http.post("/v1/ask", json={"site": "gw", "question": SUNDIAL_Q}, headers=browser("gw"))
    with Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1) as store, store.connection() as conn:
        assert answer_cache.size(conn) >= 1
        answer_cache.prune(conn, max_entries=1, ttl_seconds=3600)
        assert answer_cache.size(conn) == 1


# ---------------------------------------------------------------------- proxies
def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    gw: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    info = site_info("gw")
    no_sub = bearer(mint_token(info.token_secret, "gw", info.origin))  # keyed on the address

    def statuses(server: ServingServer, forwarded_for: list[str]) -> list[int]:
        with server.client() as client:
            return [
                client.post(
                    "/v1/search",
                    json={"site": "gw", "query": "sundial"},
                    headers={**no_sub, "X-Forwarded-For": f"203.0.113.9, {address}"},
                ).status_code
                for address in forwarded_for
            ]

    limits = {
        "PRESSRAG_RATE_LIMIT_CLIENT_BURST": "2",
        "PRESSRAG_RATE_LIMIT_CLIENT_PER_MINUTE": "1",
        "PRESSRAG_RATE_LIMIT_SITE_BURST": "1000",
    }
    visitors = ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
    log = tmp_path_factory.mktemp("serving-proxies")
    with ServingServer(log / "trusted.log", PRESSRAG_TRUSTED_PROXIES="127.0.0.1", **limits) as s:
        # Three visitors behind the proxy: three buckets (the last hop the proxy added).
        assert statuses(s, visitors) == [200, 200, 200]
        assert statuses(s, visitors[:1] * 2) == [200, 429]
    with ServingServer(log / "untrusted.log", **limits) as s:
        # Nobody trusted: the header is ignored, and the one address has one bucket.
        assert statuses(s, ["192.0.2.1", "192.0.2.2", "192.0.2.3"]) == [200, 200, 429]
