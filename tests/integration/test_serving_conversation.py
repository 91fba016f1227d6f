"""Follow-up questions through the real serving process: `history` makes "and how long does it
take?" a question about the previous subject — by the follow-up rule with the extractive
answerer, by the model (FakeOpenAI through the real `openai` client) when one is configured."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import IndexedSites
from tests.support.fake_openai import FakeOpenAI
from tests.support.serving import ADMIN_KEY, ServingServer, mint_token, parse_sse

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
FIRST = "How do I bake the loaf in a Dutch oven?"
FOLLOW_UP = "and how long does it take?"
DUTCH_OVEN = "Baking in a Dutch oven"


@pytest.fixture(scope="module")
def server(
    indexed_sites: IndexedSites, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServingServer]:
    log = tmp_path_factory.mktemp("serving-conversation") / "server.log"
    with ServingServer(log) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: ServingServer) -> Iterator[httpx.Client]:
    with server.client(headers=ADMIN) as client:
        yield client


def ask(http: httpx.Client, question: str, history: list[dict] | None = None) -> dict:
    body: dict = {"site": "other", "question": question}
    if history is not None:
        body["history"] = history
    response = http.post("/v1/ask", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def titles(answer: dict) -> list[str]:
    return [citation["title"] for citation in answer["citations"]]


def test_a_follow_up_is_answered_from_the_same_document(http: httpx.Client) -> None:
    first = ask(http, FIRST)
    assert titles(first)[0] == DUTCH_OVEN, first
    assert first["retrieval_question"] == FIRST

    alone = ask(http, FOLLOW_UP)
    assert alone["retrieval_question"] == FOLLOW_UP
    assert DUTCH_OVEN not in titles(alone)[:1], "without history the follow-up means nothing"

    history = [{"question": FIRST, "answer": first["answer"]}]
    followed = ask(http, FOLLOW_UP, history)
    assert followed["retrieval_question"] == f"{FIRST} {FOLLOW_UP}"
    assert followed["mode"] == "extractive"
    assert titles(followed)[0] == DUTCH_OVEN, followed
    assert "minutes" in followed["answer"]


def test_streamed_answer_reports_the_rewrite(http: httpx.Client) -> None:
    response = http.post(
        "/v1/ask",
        json={"site": "other", "question": FOLLOW_UP, "history": [{"question": FIRST}]},
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    events = parse_sse(response.text)
    name, done = events[-1]
    assert name == "done" and done["retrieval_question"] == f"{FIRST} {FOLLOW_UP}"
    assert events[-2][1]["citations"][0]["title"] == DUTCH_OVEN


def test_a_standalone_question_ignores_the_history(http: httpx.Client) -> None:
    history = [{"question": FIRST, "answer": "Preheat it [1]."}]
    answer = ask(http, "How should a sourdough starter be fed?", history)
    assert answer["retrieval_question"] == "How should a sourdough starter be fed?"
    assert titles(answer)[0] == "Feeding a sourdough starter"


def test_browser_token_may_send_history(http: httpx.Client, indexed_sites: IndexedSites) -> None:
    info = indexed_sites.sites["other"]
    token = mint_token(info.token_secret, info.id, info.origin)
    response = http.post(
        "/v1/ask",
        json={"site": "other", "question": FOLLOW_UP, "history": [{"question": FIRST}]},
        headers={"Authorization": f"Bearer {token}", "Origin": info.origin},
    )
    assert response.status_code == 200, response.text
    assert response.json()["citations"][0]["title"] == DUTCH_OVEN


@pytest.mark.parametrize(
    ("history", "field"),
    [
        ([{"question": FIRST}] * 9, "history"),
        ([{"question": "x" * 2001}], "history.0.question"),
        ([{"question": FIRST, "answer": "y" * 4001}], "history.0.answer"),
        ([{"question": FIRST, "extra": 1}], "history.0.extra"),
        ([{"answer": "no question"}], "history.0.question"),
        ("not a list", "history"),
    ],
)
def test_history_is_bounded_and_checked(http: httpx.Client, history: object, field: str) -> None:
    response = http.post("/v1/ask", json={"site": "other", "question": "q", "history": history})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert field in response.json()["message"]


# ------------------------------------------------------------------ with a model
@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after=1) as server:
        yield server


@pytest.fixture(scope="module")
def openai_http(
    indexed_sites: IndexedSites, fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("serving-conversation-openai") / "server.log"
    with (
        ServingServer(
            log,
            PRESSRAG_ANSWERER="openai",
            PRESSRAG_OPENAI_BASE_URL=fake.base_url,
            PRESSRAG_OPENAI_API_KEY="sk-fake-conversation-key",
            PRESSRAG_OPENAI_CHAT_MODEL="fake-chat",
            PRESSRAG_OPENAI_MAX_RETRIES="0",
        ) as running,
        running.client(headers=ADMIN) as client,
    ):
        yield client


def test_the_model_rewrites_a_follow_up(openai_http: httpx.Client, fake: FakeOpenAI) -> None:
    rewritten = "How long does baking a loaf in a Dutch oven take?"
    fake.enqueue_reply(rewritten)
    before = len(fake.chat_requests())
    answer = ask(openai_http, FOLLOW_UP, [{"question": FIRST, "answer": "Preheat it [1]."}])
    assert answer["retrieval_question"] == rewritten
    assert answer["mode"] == "openai" and titles(answer)[0] == DUTCH_OVEN
    rewrite_call, answer_call = fake.chat_requests()[before:]
    assert f"Q: {FIRST}" in rewrite_call.body["messages"][-1]["content"]
    assert f"Question: {rewritten}" in answer_call.body["messages"][-1]["content"]


def test_a_failed_rewrite_falls_back_to_the_rule(
    openai_http: httpx.Client, fake: FakeOpenAI
) -> None:
    fake.enqueue("error")
    answer = ask(openai_http, FOLLOW_UP, [{"question": FIRST}])
    assert answer["retrieval_question"] == f"{FIRST} {FOLLOW_UP}"
    assert titles(answer)[0] == DUTCH_OVEN
