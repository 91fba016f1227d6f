"""The question embedder's chain on the real serving process (issue 13, item 4): an index built
with an OpenAI-compatible embedder (a fake OpenAI server speaking the wire protocol, driven by
the real `openai` client), a secondary endpoint serving the same model, a circuit breaker per
provider, every attempt in the usage ledger, and keyword-only search when neither can embed.

The module has a PostgreSQL of its own (`private_pressrag_env`): the embedding space is the
whole database's, and the session's index is the local model's.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SAMPLE_DIR, SAMPLE_WXR, PressragEnv, environment, private_pressrag_env
from tests.support.fake_openai import FakeOpenAI
from tests.support.ledger import mark, wait_for_calls
from tests.support.serving import ADMIN_KEY, ServingServer, parse_sse

pytestmark = pytest.mark.integration

QUERIES = json.loads((SAMPLE_DIR / "queries.json").read_text())["queries"]
DIMENSION = 64
MODEL = "text-embedding-3-small"
COOLDOWN_SECONDS = 5.0
_counter = itertools.count()


def fresh(text: str = "python lists and loops") -> str:
    """A question this server has never embedded (its vector cache would answer it)."""
    return f"{text} {next(_counter)}x{time.time_ns() % 10**6}"


def _primary_env(primary: FakeOpenAI) -> dict[str, str]:
    return {
        "PRESSRAG_EMBEDDER": "openai",
        "PRESSRAG_OPENAI_BASE_URL": primary.base_url,
        "PRESSRAG_OPENAI_API_KEY": "sk-primary-test",
        "PRESSRAG_OPENAI_EMBED_MODEL": MODEL,
        "PRESSRAG_OPENAI_EMBED_DIMENSIONS": str(DIMENSION),
    }


@pytest.fixture(scope="module")
def primary() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default_dimension=DIMENSION, slow_seconds=3.0, retry_after=1) as server:
        yield server


@pytest.fixture(scope="module")
def secondary() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(default_dimension=DIMENSION, slow_seconds=3.0, retry_after=1) as server:
        yield server


@pytest.fixture(scope="module")
def openai_index(
    primary: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PressragEnv]:
    """The sample site indexed with the primary's embeddings, in a database of its own."""
    from pressrag.orchestration.run import index_site_now
    from pressrag.orchestration.sites import add_site

    with (
        private_pressrag_env(tmp_path_factory, "embedding-failover-home") as env,
        environment(**_primary_env(primary)),  # the in-process indexing run
    ):
        add_site("demo", wxr=str(SAMPLE_WXR))
        assert index_site_now("demo"), "indexing with the fake OpenAI embedder failed"
        yield env


def _serving_env(primary: FakeOpenAI, secondary: FakeOpenAI, **extra: str) -> dict[str, str]:
    return {
        **_primary_env(primary),
        "PRESSRAG_OPENAI_TIMEOUT": "1.0",
        "PRESSRAG_OPENAI_MAX_RETRIES": "1",
        "PRESSRAG_SECONDARY_EMBED_BASE_URL": secondary.base_url,
        "PRESSRAG_SECONDARY_EMBED_API_KEY": "sk-secondary-test",
        "PRESSRAG_SECONDARY_TIMEOUT": "1.0",
        "PRESSRAG_SECONDARY_MAX_RETRIES": "0",
        "PRESSRAG_BREAKER_FAILURES": "2",
        "PRESSRAG_BREAKER_COOLDOWN_SECONDS": str(COOLDOWN_SECONDS),
        "PRESSRAG_ANSWER_CACHE": "false",
        "PRESSRAG_USAGE_FLUSH_SECONDS": "0.1",
        **extra,
    }


@pytest.fixture(scope="module")
def http(
    openai_index: PressragEnv,
    primary: FakeOpenAI,
    secondary: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("serving-embedding-failover") / "server.log"
    with (
        ServingServer(log, **_serving_env(primary, secondary)) as server,
        server.client(headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client,
    ):
        yield client


def search(http: httpx.Client, query: str, **body: object) -> dict:
    response = http.post("/v1/search", json={"site": "demo", "query": query, **body})
    assert response.status_code == 200, response.text
    return response.json()


def embedding_calls(before: int, count: int) -> list[tuple[str, str]]:
    """(provider, outcome) of the question-embedding attempts recorded after `before`."""
    rows = wait_for_calls(before, count, site="demo", purpose="question_embedding")
    return [(provider, outcome) for _, provider, outcome in rows]


def embedding_requests(fake: FakeOpenAI) -> list:
    return [r for r in fake.requests if r.path.endswith("/embeddings")]


@pytest.fixture(autouse=True)
def closed_breakers(http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI) -> None:
    """Each test starts with both endpoints healthy and every breaker closed."""
    deadline = time.monotonic() + 3 * COOLDOWN_SECONDS
    while time.monotonic() < deadline:
        if search(http, fresh())["embedding_provider"] == "openai":
            time.sleep(0.5)  # its ledger rows written (every 0.1 s here) before a test's mark
            return
        time.sleep(0.5)
    raise AssertionError("the primary did not come back")


@pytest.mark.parametrize(
    ("cue", "outcome"),
    [
        ("error", "upstream_error"),  # 500, twice (the provider's own retry first)
        ("rate_limit", "upstream_rate_limited"),  # 429 with Retry-After, twice
        ("slow", "upstream_timeout"),  # no vectors within the timeout, twice
    ],
)
def test_a_failing_primary_hands_over_to_the_secondary(
    http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI, cue: str, outcome: str
) -> None:
    before, secondary_calls = mark(), len(embedding_requests(secondary))
    primary.enqueue(cue, cue)
    found = search(http, fresh())
    assert found["embedding_provider"] == "secondary" and found["degraded"] is None
    assert found["hits"] and all(h["vector_distance"] is not None for h in found["hits"])
    sent = embedding_requests(secondary)
    assert len(sent) == secondary_calls + 1
    assert sent[-1].body["model"] == MODEL and sent[-1].body["dimensions"] == DIMENSION
    assert sent[-1].headers["authorization"] == "Bearer sk-secondary-test"
    assert embedding_calls(before, 2) == [("openai", outcome), ("secondary", "ok")]


def test_the_breaker_skips_a_dead_primary_then_tries_it_once_per_cooldown(
    http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI
) -> None:
    primary.enqueue(*["slow"] * 4)  # two questions, each: a request and its retry, timed out
    assert search(http, fresh())["embedding_provider"] == "secondary"
    assert search(http, fresh())["embedding_provider"] == "secondary"  # the breaker opens
    assert 'pressrag_embedding_provider_breaker{provider="openai"} 2.0' in http.get("/metrics").text
    calls = len(embedding_requests(primary))
    time.sleep(0.5)  # the ledger rows of those two are written before the mark
    before = mark()
    started = time.monotonic()
    for _ in range(3):  # open: the primary is not even asked, so no timeout is waited for
        assert search(http, fresh())["embedding_provider"] == "secondary"
    assert time.monotonic() - started < 2.0
    assert len(embedding_requests(primary)) == calls
    assert embedding_calls(before, 3) == [("secondary", "ok")] * 3

    time.sleep(COOLDOWN_SECONDS)  # half-open: one question tries the still-dead primary …
    primary.enqueue("slow", "slow")
    assert search(http, fresh())["embedding_provider"] == "secondary"
    assert len(embedding_requests(primary)) == calls + 2  # its request and its retry
    started = time.monotonic()  # … which opens the breaker again at once
    assert search(http, fresh())["embedding_provider"] == "secondary"
    assert len(embedding_requests(primary)) == calls + 2
    assert time.monotonic() - started < 1.0

    time.sleep(COOLDOWN_SECONDS)  # the primary is back: its trial succeeds and closes it
    assert search(http, fresh())["embedding_provider"] == "openai"
    assert 'pressrag_embedding_provider_breaker{provider="openai"} 0.0' in http.get("/metrics").text


def test_with_no_provider_left_search_and_ask_run_on_keywords(
    http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI
) -> None:
    before = mark()
    primary.enqueue(*["error"] * 4)  # two questions: a request and its retry each
    secondary.enqueue("error", "error")  # no retries there
    query = QUERIES[1]
    found = search(http, query["query"])
    assert found["degraded"] == "keyword_only" and found["embedding_provider"] is None
    assert found["hits"] and all(h["vector_distance"] is None for h in found["hits"])
    assert query["expect_title"] in [h["title"] for h in found["hits"]]
    assert embedding_calls(before, 2) == [
        ("openai", "upstream_error"),
        ("secondary", "upstream_error"),
    ]
    assert search(http, QUERIES[2]["query"])["degraded"] == "keyword_only"  # both breakers open

    asked = len(embedding_requests(primary)), len(embedding_requests(secondary))
    started = time.monotonic()
    query = QUERIES[3]
    found = search(http, query["query"], k=5, filters={"post_types": ["post"]})
    assert time.monotonic() - started < 2.0  # no provider is asked while the breakers are open
    assert found["degraded"] == "keyword_only" and found["hits"]
    assert query["expect_title"] in [h["title"] for h in found["hits"]]
    assert all(h["doc_type"] == "post" for h in found["hits"]) and len(found["hits"]) <= 5

    question = QUERIES[4]
    response = http.post("/v1/ask", json={"site": "demo", "question": question["query"]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["degraded"] == "keyword_only" and answer["embedding_provider"] is None
    assert answer["mode"] == "extractive" and answer["provider"] == "local"
    assert answer["citations"] and "[1]" in answer["answer"]
    streamed = http.post(
        "/v1/ask",
        json={"site": "demo", "question": QUERIES[5]["query"]},
        headers={"Accept": "text/event-stream"},
    )
    assert streamed.status_code == 200
    events = parse_sse(streamed.text)
    done = events[-1][1]
    assert events[-1][0] == "done" and done["degraded"] == "keyword_only", events[-3:]
    assert done["embedding_provider"] is None and done["mode"] == "extractive"
    assert (len(embedding_requests(primary)), len(embedding_requests(secondary))) == asked
    metrics = http.get("/metrics").text
    assert 'pressrag_embedding_provider_breaker{provider="secondary"} 2.0' in metrics
    assert 'pressrag_retrieval_degraded_total{endpoint="search"} 3.0' in metrics
    assert 'pressrag_retrieval_degraded_total{endpoint="ask"} 2.0' in metrics


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("PRESSRAG_SECONDARY_EMBED_MODEL", "text-embedding-3-large"),
        ("PRESSRAG_SECONDARY_EMBED_DIMENSIONS", "128"),
    ],
)
def test_a_secondary_of_another_embedding_space_is_refused_at_start(
    openai_index: PressragEnv,
    primary: FakeOpenAI,
    secondary: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
    setting: str,
    value: str,
) -> None:
    log = tmp_path_factory.mktemp("serving-refused") / "server.log"
    server = ServingServer(log, **_serving_env(primary, secondary, **{setting: value}))
    server.launch()
    try:
        detail = ""
        deadline = time.monotonic() + 90
        while "start-up failed" not in detail and time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                ready = httpx.get(server.base_url + "/readyz", timeout=2)
            except httpx.HTTPError:
                continue
            assert ready.status_code == 503, ready.text
            detail = ready.json()["detail"] or ""
        assert "PRESSRAG_SECONDARY_EMBED_MODEL" in detail, detail
        assert "PRESSRAG_OPENAI_EMBED_MODEL" in detail and f"openai:{MODEL}:{DIMENSION}" in detail
        lines = [line for line in server.log_text().splitlines() if "start-up failed" in line]
        assert len(lines) == 1 and "secondary question embedder" in lines[0]
    finally:
        server.stop()
