"""Rate limits shared by serving replicas, counted in PostgreSQL (`rate_limits`).

The acceptance test runs two real serving processes on one database and alternates between
them: the client's burst is allowed once in total, not once per process (which the former
in-process limiter allowed). The others drive `RateLimits` directly on a fresh database:
concurrent takes from two limiters, chaining, refill, pruning, failing open.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from pressrag.resources.secrets import SecretStore, new_key_id, new_secret
from pressrag.resources.store import Store
from pressrag.resources.store.migrations import apply_migrations
from pressrag.resources.store.sites import Site, upsert_site
from pressrag.serving.ratelimit import RETRY_SECONDS, Limit, RateLimits
from tests.conftest import PressragEnv
from tests.support.serving import ServingServer, free_port, mint_token

pytestmark = pytest.mark.integration

SITE = "shared-limits"
ORIGIN = "https://shared-limits.example"
MODEL = "local:sentence-transformers/all-MiniLM-L6-v2"
FOREVER = 0.001  # per minute: nothing refills while a test runs


@pytest.fixture
def database(pressrag_env: PressragEnv) -> str:
    """A fresh, migrated database on the session's PostgreSQL."""
    name = f"t_limits_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pressrag_env.app_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(pressrag_env.app_url)._replace(path=f"/{name}"))
    apply_migrations(url)
    return url


def connected(url: str, client: Limit, site: Limit, **kwargs: object) -> RateLimits:
    limits = RateLimits(client, site, **kwargs)
    limits.connect(url)
    return limits


def levels(url: str) -> dict[str, float]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT key, level FROM rate_limits").fetchall())


# --------------------------------------------------------------------------- two processes
@pytest.fixture
def replicas(
    database: str, pressrag_env: PressragEnv, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServingServer, ServingServer, str]]:
    """Two serving processes on one database, with a client burst of 4 and a site one of 6."""
    secrets = SecretStore(pressrag_env.home)
    token_key = new_key_id(SITE, "token")
    token_secret = new_secret()
    secrets.put(token_key, token_secret)
    with Store(database, max_size=1) as store:
        store.ensure_space(MODEL, 384)
        with store.connection() as conn:
            upsert_site(
                conn,
                Site(
                    id=SITE,
                    source_kind="rest",
                    base_url=ORIGIN,
                    settings={"origins": [ORIGIN]},
                    token_key_ids=[token_key],
                ),
            )
    logs = tmp_path_factory.mktemp("shared-limits")
    servers = [
        ServingServer(
            logs / f"replica-{n}.log",
            PRESSRAG_APP_DB_URL=database,
            PRESSRAG_RATE_LIMIT_CLIENT_BURST="4",
            PRESSRAG_RATE_LIMIT_CLIENT_PER_MINUTE="1",
            PRESSRAG_RATE_LIMIT_SITE_BURST="6",
            PRESSRAG_RATE_LIMIT_SITE_PER_MINUTE="1",
        )
        for n in (1, 2)
    ]
    try:
        with ThreadPoolExecutor(2) as pool:  # both load the model at once
            list(pool.map(ServingServer.start, servers))
        yield servers[0], servers[1], token_secret
    finally:
        for server in servers:
            server.stop()


def test_two_replicas_enforce_one_limit(
    replicas: tuple[ServingServer, ServingServer, str], database: str
) -> None:
    first, second, token_secret = replicas
    clients = [first.client(), second.client()]
    alternating = itertools.cycle(clients)

    def search(visitor: str) -> tuple[int, dict, dict]:
        token = mint_token(token_secret, SITE, ORIGIN, sub=visitor)
        response = next(alternating).post(
            "/v1/search",
            json={"site": SITE, "query": "anything"},
            headers={"Authorization": f"Bearer {token}", "Origin": ORIGIN},
        )
        return response.status_code, dict(response.headers), response.json()

    try:
        # One visitor, replicas 1 2 1 2 1: four in total, not four on each.
        answers = [search("a" * 32) for _ in range(5)]
        assert [status for status, _, _ in answers] == [200, 200, 200, 200, 429]
        _, headers, body = answers[4]
        assert body["error"] == "rate_limited" and "client" in body["message"]
        assert 1 <= int(headers["retry-after"]) <= 60

        # The refused request did not count against the site: another visitor gets the site's
        # last two (6 = 4 + 2), then the site's limit answers, on either replica.
        assert [search("b" * 32)[0] for _ in range(2)] == [200, 200]
        status, headers, body = search("b" * 32)
        assert status == 429 and "site" in body["message"]
        assert int(headers["retry-after"]) >= 1

        # The routes reachable without a credential: the client address's bucket, shared too.
        route = f"/v1/sites/{SITE}/connection-test"
        statuses = [next(alternating).post(route, json={"token": ""}).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 200, 429]
    finally:
        for client in clients:
            client.close()
    counted = levels(database)
    assert counted[f"site:{SITE}"] == pytest.approx(6, abs=0.01)
    assert counted["client:visitor:" + "a" * 32] == pytest.approx(4, abs=0.01)
    assert counted["client:ip:127.0.0.1"] == pytest.approx(4, abs=0.01)


# --------------------------------------------------------------------------- the limiter
def test_concurrent_takes_from_two_limiters_never_double_spend(database: str) -> None:
    """Eight threads on two limiters (two pools, as two replicas) take 320 times from one
    bucket of 40: exactly 40 are allowed."""
    client, site = Limit("client", FOREVER, 40), Limit("site", FOREVER, 10_000)
    replicas = [connected(database, client, site) for _ in range(2)]
    allowed = []

    def hammer(limits: RateLimits) -> None:
        allowed.append(sum(limits.acquire((client, "hot")) is None for _ in range(40)))

    try:
        threads = [threading.Thread(target=hammer, args=(replicas[i % 2],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for limits in replicas:
            limits.close()
    assert len(allowed) == 8 and sum(allowed) == 40
    assert levels(database)["client:hot"] == pytest.approx(40, abs=0.01)


def test_concurrent_requests_share_their_site(database: str) -> None:
    """Eight clients (own burst 30) on one site (burst 100), 40 tries each on two limiters:
    the site allows exactly 100, and no client more than its 30."""
    client, site = Limit("client", FOREVER, 30), Limit("site", FOREVER, 100)
    replicas = [connected(database, client, site) for _ in range(2)]
    allowed: dict[int, int] = {}

    def visitor(n: int) -> None:
        limits = replicas[n % 2]
        claims = ((client, f"visitor-{n}"), (site, "busy"))
        allowed[n] = sum(limits.acquire(*claims) is None for _ in range(40))

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(visitor, range(8)))
    finally:
        for limits in replicas:
            limits.close()
    assert sum(allowed.values()) == 100 and max(allowed.values()) <= 30
    counted = levels(database)
    assert counted["site:busy"] == pytest.approx(100, abs=0.01)
    # A client's bucket is taken before its site's (as in the in-process limiter), so it also
    # counted the requests the site refused: every try counted until the client's 30.
    for n in range(8):
        assert counted[f"client:visitor-{n}"] == pytest.approx(30, abs=0.01)


def test_a_bucket_refills_at_its_rate(database: str) -> None:
    client = Limit("client", 600, 3)  # ten a second
    limits = connected(database, client, Limit("site", 600, 100))
    try:
        assert [limits.acquire((client, "k")) for _ in range(3)] == [None] * 3
        refused = limits.acquire((client, "k"))
        assert refused is not None and refused.limit is client and 0 < refused.wait <= 0.1
        time.sleep(refused.wait + 0.02)
        assert limits.acquire((client, "k")) is None
        assert limits.acquire((client, "k")) is not None
    finally:
        limits.close()


def test_a_limit_raised_on_one_replica_applies_at_once(database: str) -> None:
    """The row counts requests, not seconds: a replica with a larger burst (a rolling
    deploy) lets the key use the difference, the old one keeps its own."""
    small, large = Limit("client", FOREVER, 2), Limit("client", FOREVER, 5)
    site = Limit("site", FOREVER, 100)
    old, new = connected(database, small, site), connected(database, large, site)
    try:
        assert [old.acquire((small, "k")) for _ in range(2)] == [None, None]
        assert old.acquire((small, "k")) is not None
        assert [new.acquire((large, "k")) is None for _ in range(4)] == [True] * 3 + [False]
    finally:
        old.close()
        new.close()


def test_drained_buckets_are_pruned(database: str) -> None:
    """A flood of distinct clients leaves no rows behind once their buckets have drained."""
    client, site = Limit("client", 600, 10), Limit("site", 600, 10_000)
    limits = connected(database, client, site)
    try:
        for n in range(300):
            assert limits.acquire((client, f"flood-{n}"), (site, "s")) is None
        time.sleep(0.15)  # one request drains in 0.1 s; the site's 300 take 30 s
        assert limits.acquire((client, "recent")) is None
        assert limits.prune() == 300
        assert set(levels(database)) == {"site:s", "client:recent"}
    finally:
        limits.close()


def test_an_unreachable_database_fails_open_to_the_process_limits() -> None:
    client = Limit("client", FOREVER, 2)
    limits = connected(
        f"postgresql://pressrag@127.0.0.1:{free_port()}/none?connect_timeout=1",
        client,
        Limit("site", FOREVER, 100),
    )
    try:
        started = time.monotonic()
        first = limits.acquire((client, "k"))
        failed_after = time.monotonic() - started
        started = time.monotonic()
        answers = [first] + [limits.acquire((client, "k")) for _ in range(2)]
        assert time.monotonic() - started < 0.05  # no database attempt until RETRY_SECONDS
        assert answers[:2] == [None, None] and answers[2] is not None
        assert failed_after < 2.0
    finally:
        limits.close()


def test_the_shared_limits_come_back_after_a_failure(database: str) -> None:
    now = [1000.0]
    client = Limit("client", FOREVER, 5)
    limits = connected(database, client, Limit("site", FOREVER, 100), clock=lambda: now[0])
    try:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("ALTER TABLE rate_limits RENAME TO rate_limits_away")
            assert limits.acquire((client, "k")) is None  # counted in the process
            conn.execute("ALTER TABLE rate_limits_away RENAME TO rate_limits")
        assert limits.acquire((client, "k")) is None
        assert levels(database) == {}  # still in the process
        now[0] += RETRY_SECONDS
        assert limits.acquire((client, "k")) is None
        assert levels(database) == {"client:k": pytest.approx(1)}
    finally:
        limits.close()
