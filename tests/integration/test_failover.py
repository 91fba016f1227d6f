"""The answerer's chain of providers on the real serving process (issue 13, item 4): a primary
and a secondary OpenAI-compatible endpoint (two fake OpenAI servers speaking the wire protocol,
driven by the real `openai` client), then the local extractive answerer; a circuit breaker
per provider; every attempt in the usage ledger.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import SAMPLE_DIR, IndexedSites
from tests.support.fake_openai import FakeOpenAI
from tests.support.ledger import mark, wait_for_calls
from tests.support.serving import ADMIN_KEY, ServingServer, parse_sse

pytestmark = pytest.mark.integration

QUESTION = json.loads((SAMPLE_DIR / "queries.json").read_text())["queries"][0]["query"]
COOLDOWN_SECONDS = 3.0


@pytest.fixture(scope="module")
def primary() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(slow_seconds=3.0, retry_after=1) as server:
        yield server


@pytest.fixture(scope="module")
def secondary() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(slow_seconds=3.0, retry_after=1) as server:
        yield server


@pytest.fixture(scope="module")
def http(
    indexed_sites: IndexedSites,
    primary: FakeOpenAI,
    secondary: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("serving-failover") / "server.log"
    with (
        ServingServer(
            log,
            PRESSRAG_ANSWERER="openai",
            PRESSRAG_OPENAI_BASE_URL=primary.base_url,
            PRESSRAG_OPENAI_API_KEY="sk-primary-test",
            PRESSRAG_OPENAI_CHAT_MODEL="primary-chat",
            PRESSRAG_OPENAI_TIMEOUT="1.0",
            PRESSRAG_OPENAI_MAX_RETRIES="1",
            PRESSRAG_SECONDARY_BASE_URL=secondary.base_url,
            PRESSRAG_SECONDARY_API_KEY="sk-secondary-test",
            PRESSRAG_SECONDARY_CHAT_MODEL="secondary-chat",
            PRESSRAG_SECONDARY_TIMEOUT="1.0",
            PRESSRAG_SECONDARY_MAX_RETRIES="0",
            PRESSRAG_BREAKER_FAILURES="2",
            PRESSRAG_BREAKER_COOLDOWN_SECONDS=str(COOLDOWN_SECONDS),
            PRESSRAG_ANSWER_CACHE="false",  # every question goes to the chain
            PRESSRAG_USAGE_FLUSH_SECONDS="0.1",
        ) as server,
        server.client(headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client,
    ):
        yield client


def ask(http: httpx.Client) -> dict:
    response = http.post("/v1/ask", json={"site": "demo", "question": QUESTION})
    assert response.status_code == 200, response.text
    return response.json()


def ledger_after(before: int, count: int) -> list[tuple[str, str]]:
    """(provider, outcome) of the answer attempts recorded after `before`."""
    rows = wait_for_calls(before, count, site="demo", purpose="answer")
    return [(provider, outcome) for _, provider, outcome in rows]


@pytest.fixture(autouse=True)
def closed_breakers(http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI) -> None:
    """Each test starts with both endpoints healthy and every breaker closed."""
    for fake in (primary, secondary):
        fake.enqueue()  # nothing queued
    deadline = time.monotonic() + 3 * COOLDOWN_SECONDS
    while time.monotonic() < deadline:
        if ask(http)["provider"] == "openai":
            time.sleep(0.5)  # its ledger rows written (every 0.1 s here) before a test's mark
            return
        time.sleep(0.5)
    raise AssertionError("the primary did not come back")


@pytest.mark.parametrize(
    ("cue", "outcome"),
    [
        ("error", "upstream_error"),  # 500, twice (the provider's own retry first)
        ("rate_limit", "upstream_rate_limited"),  # 429 with Retry-After, twice
        ("slow", "upstream_timeout"),  # no answer within the timeout, twice
    ],
)
def test_a_failing_primary_hands_over_to_the_secondary(
    http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI, cue: str, outcome: str
) -> None:
    before, secondary_calls = mark(), len(secondary.chat_requests())
    primary.enqueue(cue, cue)
    answer = ask(http)
    assert answer["provider"] == "secondary" and answer["mode"] == "openai"
    assert answer["citations"] and "[1]" in answer["answer"]
    assert len(secondary.chat_requests()) == secondary_calls + 1
    assert secondary.chat_requests()[-1].body["model"] == "secondary-chat"
    assert ledger_after(before, 2) == [("openai", outcome), ("secondary", "ok")]


def test_a_stream_that_breaks_mid_answer_is_answered_again_by_the_next(
    http: httpx.Client, primary: FakeOpenAI
) -> None:
    before = mark()
    primary.enqueue("break")
    response = http.post(
        "/v1/ask",
        json={"site": "demo", "question": QUESTION},
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert "reset" in names and names[-2:] == ["citations", "done"], names
    after_reset = names[names.index("reset") + 1 :]
    assert "delta" in names[: names.index("reset")]  # the primary had begun
    assert set(after_reset[:-2]) == {"delta"}
    text = "".join(d["text"] for n, d in events[names.index("reset") + 1 :] if n == "delta")
    done = events[-1][1]
    assert done["provider"] == "secondary" and done["mode"] == "openai" and "[1]" in text
    assert dict(events)["reset"]["failed_provider"] == "openai"
    assert ledger_after(before, 2) == [("openai", "upstream_error"), ("secondary", "ok")]


def test_when_both_endpoints_fail_the_local_answerer_answers(
    http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI
) -> None:
    before = mark()
    primary.enqueue("error", "error")
    secondary.enqueue("error")
    answer = ask(http)
    assert answer["provider"] == "local" and answer["mode"] == "extractive"
    assert answer["citations"]
    assert ledger_after(before, 3) == [
        ("openai", "upstream_error"),
        ("secondary", "upstream_error"),
        ("local", "ok"),
    ]


def test_the_breaker_skips_a_dead_primary_then_tries_it_again(
    http: httpx.Client, primary: FakeOpenAI, secondary: FakeOpenAI
) -> None:
    primary.enqueue(*["error"] * 4)  # two questions, each: a request and its retry
    assert ask(http)["provider"] == "secondary"
    assert ask(http)["provider"] == "secondary"  # second failure in a row: the breaker opens
    calls = len(primary.chat_requests())
    time.sleep(0.5)  # the ledger rows of those two are written before the mark
    before = mark()
    started = time.monotonic()
    for _ in range(3):  # open: the primary is not even asked
        assert ask(http)["provider"] == "secondary"
    assert len(primary.chat_requests()) == calls
    assert time.monotonic() - started < COOLDOWN_SECONDS
    assert ledger_after(before, 3) == [("secondary", "ok")] * 3
    time.sleep(COOLDOWN_SECONDS)
    assert ask(http)["provider"] == "openai"  # half-open: one trial, which succeeds
    assert len(primary.chat_requests()) == calls + 1
    metrics = http.get("/metrics").text
    assert 'pressrag_answer_provider_breaker{provider="openai"} 0.0' in metrics
