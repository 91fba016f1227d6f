"""The OpenAI answer path end to end: the real server process uses the real `openai` client
against FakeOpenAI (a local HTTP server speaking chat completions, JSON and streamed), which
misbehaves on cue. Answers stay valid (no dangling [n]) or fail with a clean JSON error or an
SSE `error` event."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest

from pressrag.resources.answerers import NOT_FOUND_TEXT
from tests.conftest import SAMPLE_DIR, IndexedSites
from tests.support.fake_openai import FakeOpenAI
from tests.support.serving import ADMIN_KEY, ServingServer, parse_sse

pytestmark = pytest.mark.integration

QUERIES = json.loads((SAMPLE_DIR / "queries.json").read_text())["queries"]
OPENAI_KEY = "sk-fake-openai-key-7d1e9a3c"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MARKER = re.compile(r"\[(\d+)\]")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(slow_seconds=4.0, retry_after=1) as server:
        yield server


@pytest.fixture(scope="module")
def server(
    indexed_sites: IndexedSites, fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServingServer]:
    log = tmp_path_factory.mktemp("serving-openai") / "server.log"
    with ServingServer(
        log,
        PRESSRAG_ANSWERER="openai",
        PRESSRAG_OPENAI_BASE_URL=fake.base_url,
        PRESSRAG_OPENAI_API_KEY=OPENAI_KEY,
        PRESSRAG_OPENAI_CHAT_MODEL="fake-chat",
        PRESSRAG_OPENAI_TIMEOUT="1.5",
        PRESSRAG_OPENAI_MAX_RETRIES="1",
        PRESSRAG_ANSWER_MAX_TOKENS="256",
        # These tests ask the same questions again to see each upstream behaviour: the answer
        # cache (tests/integration/test_gateway.py) would answer them without the model.
        PRESSRAG_ANSWER_CACHE="false",
        # How one provider's failures surface: no fallback to the local answerer here
        # (the chain of providers: tests/integration/test_failover.py).
        PRESSRAG_ANSWER_LOCAL_FALLBACK="false",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: ServingServer) -> Iterator[httpx.Client]:
    with server.client(headers=ADMIN) as client:
        yield client


def ask(http: httpx.Client, question: str) -> httpx.Response:
    return http.post("/v1/ask", json={"site": "demo", "question": question})


def ask_stream(http: httpx.Client, question: str) -> list[tuple[str, dict]]:
    response = http.post(
        "/v1/ask",
        json={"site": "demo", "question": question},
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    return parse_sse(response.text)


def streamed_answer(events: list[tuple[str, dict]]) -> tuple[str, list[dict], str]:
    names = [n for n, _ in events]
    assert names[-2:] == ["citations", "done"] and set(names[:-2]) == {"delta"}, names
    text = "".join(d["text"] for n, d in events if n == "delta")
    return text, events[-2][1]["citations"], events[-1][1]["mode"]


def assert_consistent(text: str, citations: list[dict]) -> None:
    assert {int(n) for n in MARKER.findall(text)} == {c["n"] for c in citations}, (text, citations)


def test_known_questions_openai_json_and_stream(http: httpx.Client, fake: FakeOpenAI) -> None:
    """The model sees the site's passages numbered from 1 in retrieval order and cites [1]:
    the first citation is the document search ranks first; JSON and stream agree."""
    for q in QUERIES[:6]:
        top = http.post("/v1/search", json={"site": "demo", "query": q["query"], "k": 6})
        top_url = top.json()["hits"][0]["url"]
        answer = ask(http, q["query"]).json()
        assert answer["mode"] == "openai"
        assert answer["citations"][0]["url"] == top_url
        assert_consistent(answer["answer"], answer["citations"])
        request = fake.chat_requests()[-1]
        assert request.body["model"] == "fake-chat" and request.body["max_tokens"] == 256
        prompt = request.body["messages"][-1]["content"]
        assert prompt.startswith("Passages:") and q["query"] in prompt

        text, citations, mode = streamed_answer(ask_stream(http, q["query"]))
        assert mode == "openai" and text == answer["answer"] and citations == answer["citations"]
        assert fake.chat_requests()[-1].body["stream"] is True


def test_invalid_citation_is_never_shown(http: httpx.Client, fake: FakeOpenAI) -> None:
    question = QUERIES[0]["query"]
    fake.enqueue("bad_citation")
    answer = ask(http, question).json()
    assert "[9]" not in answer["answer"] and "9]" not in answer["answer"]
    assert_consistent(answer["answer"], answer["citations"])
    fake.enqueue("bad_citation")
    text, citations, _ = streamed_answer(ask_stream(http, question))
    assert "9]" not in text
    assert_consistent(text, citations)


def test_rate_limited_upstream_is_retried(http: httpx.Client, fake: FakeOpenAI) -> None:
    before = len(fake.chat_requests())
    fake.enqueue("rate_limit")
    answer = ask(http, QUERIES[1]["query"])
    assert answer.status_code == 200 and answer.json()["mode"] == "openai"
    assert len(fake.chat_requests()) - before == 2
    fake.enqueue("rate_limit")
    _, citations, mode = streamed_answer(ask_stream(http, QUERIES[1]["query"]))
    assert mode == "openai" and citations


@pytest.mark.parametrize(
    ("cue", "status", "code"),
    [("error", 502, "upstream_error"), ("slow", 504, "upstream_timeout")],
)
def test_upstream_failures_fail_cleanly(
    http: httpx.Client, fake: FakeOpenAI, cue: str, status: int, code: str
) -> None:
    """Persistent 500s or timeouts (beyond one retry) give a JSON error, or an SSE error
    event once streaming has begun — never a hang, a 500 or a half answer."""
    question = QUERIES[2]["query"]
    fake.enqueue(cue, cue)
    response = ask(http, question)
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]
    fake.enqueue(cue, cue)
    events = ask_stream(http, question)
    assert [n for n, _ in events] == ["error"]
    assert events[0][1]["error"] == code
    # And the next request is fine again.
    assert ask(http, question).json()["mode"] == "openai"


def test_unanswerable_question_skips_the_model(http: httpx.Client, fake: FakeOpenAI) -> None:
    before = len(fake.chat_requests())
    answer = ask(http, "what is the capital of France").json()
    assert (answer["mode"], answer["answer"], answer["citations"]) == (
        "not_found",
        NOT_FOUND_TEXT,
        [],
    )
    assert len(fake.chat_requests()) == before


def test_model_not_found_reply(http: httpx.Client, fake: FakeOpenAI) -> None:
    fake.enqueue("not_found")
    answer = ask(http, QUERIES[3]["query"]).json()
    assert (answer["mode"], answer["citations"]) == ("not_found", [])


def test_tokens_counted_and_key_never_logged(http: httpx.Client, server: ServingServer) -> None:
    ask(http, QUERIES[4]["query"])
    metrics = http.get("/metrics").text
    assert re.search(r'pressrag_llm_tokens_total\{kind="completion"\} [1-9]', metrics)
    assert re.search(r'pressrag_answers_total\{mode="openai",outcome="ok"\} [1-9]', metrics)
    assert re.search(r'pressrag_answers_total\{mode="openai",outcome="upstream_timeout"\}', metrics)
    log = server.log_text()
    assert "chat completion failed" in log  # retries are logged...
    assert OPENAI_KEY not in log and ADMIN_KEY not in log  # ...keys are not
    assert "Traceback" not in log
