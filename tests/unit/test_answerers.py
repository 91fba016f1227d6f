"""Answer generators on hand-made passages: citation filtering, the OpenAI answerer through
the real `openai` client against FakeOpenAI (a real local HTTP server), and the extractive
answerer with the real local model."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from pressrag.resources.answerers import (
    NOT_FOUND_TEXT,
    AnswerUnavailable,
    CitationFilter,
    Delta,
    Final,
    Passage,
    Question,
    Rewrite,
    Turn,
    collect,
    is_follow_up,
    retrieval_too_weak,
    standalone_question,
    strip_invalid_markers,
)
from pressrag.resources.answerers.extractive import ExtractiveAnswerer
from pressrag.resources.answerers.followup import MAX_STANDALONE_CHARS
from pressrag.resources.answerers.openai import OpenAIAnswerer
from pressrag.resources.embedders import Embedder
from tests.support.fake_openai import FakeOpenAI

PASSAGES = [
    Passage(
        1,
        "Data Structures",
        "https://x/ds",
        "Deques",
        (
            "A deque supports fast appends and pops from either end. "
            "Lists are slow for inserting at the front because all elements shift."
        ),
        0.31,
    ),
    Passage(
        2,
        "Decimal",
        "https://x/dec",
        "",
        (
            "The decimal module provides exact decimal arithmetic. "
            "It is suited to money where rounding rules are prescribed by law."
        ),
        0.55,
    ),
]
MARKER = re.compile(r"\[(\d+)\]")


def markers_in(text: str) -> set[int]:
    return {int(n) for n in MARKER.findall(text)}


# ---------------------------------------------------------------- citation filtering
@pytest.mark.parametrize(
    ("raw", "clean", "used"),
    [
        ("Deques are fast [1].", "Deques are fast [1].", [1]),
        ("Deques are fast [9].", "Deques are fast.", []),
        ("Both [2, 9, 1] apply.", "Both [2][1] apply.", [2, 1]),
        ("See [1][3] and [2].", "See [1] and [2].", [1, 2]),
        ("A list [x] stays [0].", "A list [x] stays.", []),
    ],
)
def test_strip_invalid_markers(raw: str, clean: str, used: list[int]) -> None:
    """Valid markers survive (groups split), invalid numbers and all-invalid markers vanish."""
    assert strip_invalid_markers(raw, {1, 2}) == (clean, used)


def test_filter_handles_markers_split_across_deltas() -> None:
    text = "Fast at both ends [1]. Not in [12] or [2, 7]. Done [9]."
    for size in (1, 2, 3, 5, 7):
        f = CitationFilter({1, 2})
        out = "".join(f.feed(text[i : i + size]) for i in range(0, len(text), size)) + f.flush()
        assert out == "Fast at both ends [1]. Not in or [2]. Done."
        assert f.used == [1, 2]


def test_retrieval_gate() -> None:
    assert not retrieval_too_weak(PASSAGES, 0.4)
    assert retrieval_too_weak(PASSAGES, 0.3)
    text_only = [Passage(1, "t", "u", "", "x", None)]
    assert retrieval_too_weak(text_only, 0.9)
    assert retrieval_too_weak([], 0.9)


# ---------------------------------------------------------------- OpenAI answerer
@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(slow_seconds=2.0) as server:
        yield server


def answerer(fake: FakeOpenAI, **kwargs: object) -> OpenAIAnswerer:
    options: dict = {"timeout": 5.0, "max_retries": 2, "max_tokens": 123} | kwargs
    return OpenAIAnswerer(
        api_key="sk-test-key", model="gpt-test", base_url=fake.base_url, **options
    )


def test_openai_json_answer_cites_given_passage(fake: FakeOpenAI) -> None:
    answer = answerer(fake).answer(Question("fast ends?"), PASSAGES)
    assert answer.mode == "openai"
    assert answer.cited == [1] and markers_in(answer.text) == {1}
    assert answer.text.startswith("A deque supports fast appends")
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    request = fake.chat_requests()[-1]
    assert request.body["model"] == "gpt-test" and request.body["max_tokens"] == 123
    user = request.body["messages"][-1]["content"]
    assert "[1] Data Structures — Deques" in user and "[2] Decimal" in user
    assert "Question: fast ends?" in user
    assert request.headers.get("authorization") == "Bearer sk-test-key"


def test_openai_stream_answer(fake: FakeOpenAI) -> None:
    events = list(answerer(fake).stream(Question("fast ends?"), PASSAGES))
    deltas = [e for e in events if isinstance(e, Delta)]
    assert len(deltas) > 3 and isinstance(events[-1], Final)
    final = events[-1]
    assert final.cited == [1] and final.mode == "openai" and final.completion_tokens > 0
    assert markers_in("".join(d.text for d in deltas)) == {1}
    assert fake.chat_requests()[-1].body["stream"] is True


@pytest.mark.parametrize("streamed", [False, True])
def test_openai_invalid_citation_is_removed(fake: FakeOpenAI, streamed: bool) -> None:
    """The model cites [9], which it was never given: the marker disappears, [1] stays."""
    fake.enqueue("bad_citation")
    a = answerer(fake)
    result = (
        collect(a.stream(Question("q"), PASSAGES))
        if streamed
        else a.answer(Question("q"), PASSAGES)
    )
    assert "[9]" not in result.text and "9]" not in result.text
    assert markers_in(result.text) == {1} and result.cited == [1]


@pytest.mark.parametrize("streamed", [False, True])
def test_openai_retries_429_then_succeeds(fake: FakeOpenAI, streamed: bool) -> None:
    """A 429 with Retry-After: 1 is waited out and retried, JSON and streamed alike."""
    fake.enqueue("rate_limit")
    started = time.monotonic()
    a = answerer(fake)
    result = (
        collect(a.stream(Question("q"), PASSAGES))
        if streamed
        else a.answer(Question("q"), PASSAGES)
    )
    assert result.cited == [1]
    assert time.monotonic() - started >= 1.0  # honoured Retry-After
    assert len(fake.chat_requests()) == 2


@pytest.mark.parametrize(
    ("cues", "kind"),
    [
        (["error", "error", "error"], "upstream_error"),
        (["rate_limit", "rate_limit", "rate_limit"], "upstream_rate_limited"),
        (["slow", "slow"], "upstream_timeout"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_openai_failures_fail_cleanly(
    fake: FakeOpenAI, cues: list[str], kind: str, streamed: bool
) -> None:
    """Persistent 500s, 429s and timeouts end in one AnswerUnavailable with a reason and no
    upstream detail, after the configured retries."""
    fake.enqueue(*cues)
    # Only the "slow" cue (2 s) is to time out; on a loaded CI machine a 500 once took longer
    # than 0.5 s to arrive, and the timeout then spent one of the retries.
    timeout = 0.5 if kind == "upstream_timeout" else 10.0
    a = answerer(fake, timeout=timeout, max_retries=len(cues) - 1, sleep=lambda s: None)
    with pytest.raises(AnswerUnavailable) as info:
        if streamed:
            list(a.stream(Question("q"), PASSAGES))
        else:
            a.answer(Question("q"), PASSAGES)
    assert info.value.kind == kind
    assert "boom" not in str(info.value) and "sk-test" not in str(info.value)
    assert len(fake.chat_requests()) == len(cues)


def test_openai_500_then_success(fake: FakeOpenAI) -> None:
    fake.enqueue("error")
    assert answerer(fake, sleep=lambda s: None).answer(Question("q"), PASSAGES).cited == [1]


@pytest.mark.parametrize("streamed", [False, True])
def test_openai_not_found(fake: FakeOpenAI, streamed: bool) -> None:
    """The model's not-found sentence becomes mode not_found with no citations."""
    fake.enqueue("not_found")
    a = answerer(fake)
    result = (
        collect(a.stream(Question("q"), PASSAGES))
        if streamed
        else a.answer(Question("q"), PASSAGES)
    )
    assert result.mode == "not_found" and result.cited == []
    assert result.text == NOT_FOUND_TEXT


def test_openai_empty_answer_is_an_error(fake: FakeOpenAI) -> None:
    fake.enqueue("empty")
    with pytest.raises(AnswerUnavailable):
        answerer(fake).answer(Question("q"), PASSAGES)


# ---------------------------------------------------------------- extractive answerer
@pytest.fixture(scope="module")
def extractive() -> ExtractiveAnswerer:
    from pressrag.resources.embedders.local import LocalEmbedder

    return ExtractiveAnswerer(LocalEmbedder())


def test_extractive_picks_relevant_sentences(extractive: ExtractiveAnswerer) -> None:
    answer = extractive.answer(Question("which container has fast appends at both ends"), PASSAGES)
    assert answer.mode == "extractive"
    assert answer.text.startswith("A deque supports fast appends and pops from either end. [1]")
    assert set(answer.cited) <= {1, 2} and answer.cited[0] == 1
    assert markers_in(answer.text) == set(answer.cited)
    assert "money" not in answer.text  # an unrelated sentence is not dragged in


def test_extractive_cites_second_passage_when_relevant(extractive: ExtractiveAnswerer) -> None:
    swapped = [
        Passage(1, "Decimal", "u", "", PASSAGES[1].text, 0.3),
        Passage(2, "Deque", "u", "", PASSAGES[0].text, 0.4),
        Passage(
            3,
            "Money",
            "u",
            "",
            "Rounding of money follows prescribed legal rules in decimal.",
            0.45,
        ),
    ]
    answer = extractive.answer(Question("exact decimal arithmetic for money rounding"), swapped)
    assert answer.cited[0] == 1
    assert "exact decimal arithmetic" in answer.text
    assert markers_in(answer.text) == set(answer.cited)
    # Every sentence ends with its citation.
    for sentence in re.split(r"(?<=\])\s+", answer.text):
        assert MARKER.search(sentence)


def test_extractive_stream_matches_answer(extractive: ExtractiveAnswerer) -> None:
    q = Question("which container has fast appends at both ends")
    streamed = collect(extractive.stream(q, PASSAGES))
    assert streamed == extractive.answer(q, PASSAGES)


def test_extractive_reuses_sentence_vectors(extractive: ExtractiveAnswerer) -> None:
    """Top chunks recur across questions; their sentences are embedded once."""
    calls: list[int] = []

    class Counting:
        def __init__(self, inner: Embedder) -> None:
            self.inner = inner
            self.model_id, self.dimension = inner.model_id, inner.dimension

        def embed(self, texts: Sequence[str]) -> np.ndarray:
            calls.append(len(texts))
            return self.inner.embed(texts)

    answerer = ExtractiveAnswerer(Counting(extractive.embedder))
    first = answerer.answer(Question("fast appends at both ends"), PASSAGES)
    embedded_first = sum(calls)
    second = answerer.answer(Question("which container pops from either end"), PASSAGES)
    assert embedded_first >= 4  # the question + the passages' sentences
    assert sum(calls) - embedded_first == 1  # only the new question
    assert first.cited and second.cited


def test_fake_embeddings_endpoint_serves_the_openai_embedder(fake: FakeOpenAI) -> None:
    """FakeOpenAI's /v1/embeddings gives deterministic unit vectors of the requested size
    through the real client (so the OpenAI embedder can be tested offline too)."""
    from pressrag.resources.embedders.openai import OpenAIEmbedder

    embedder = OpenAIEmbedder(
        api_key="sk-test-key", model="text-embedding-3-small", dimensions=64, base_url=fake.base_url
    )
    first = embedder.embed(["alpha", "beta", "alpha"])
    assert first.shape == (3, 64) and embedder.dimension == 64
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.allclose(first[0], first[2]) and not np.allclose(first[0], first[1])
    assert np.allclose(embedder.embed(["alpha"])[0], first[0])
    assert fake.requests[-1].body["dimensions"] == 64


# ---------------------------------------------------------------- follow-up questions
SUNDIAL = Turn("How do I restore the quartz sundial?", "Clean the gnomon with brass polish [1].")


@pytest.mark.parametrize(
    "question",
    [
        "and how long does it take?",
        "What about the gnomon?",
        "How much does it cost?",
        "Why?",
        "how long?",
        "Can they be repaired?",
        "also the dial plate",
    ],
)
def test_follow_ups_are_joined_to_the_previous_question(question: str) -> None:
    rewrite = standalone_question(question, [SUNDIAL])
    assert rewrite.rewritten
    assert rewrite.text == f"{SUNDIAL.question} {question}"


@pytest.mark.parametrize(
    "question", ["What is the decimal module used for?", "How do I make a virtual environment?"]
)
def test_standalone_questions_are_left_alone(question: str) -> None:
    assert not is_follow_up(question)
    assert standalone_question(question, [SUNDIAL]) == Rewrite(question, rewritten=False)


def test_without_history_nothing_is_rewritten() -> None:
    assert standalone_question("and how long does it take?", []) == Rewrite(
        "and how long does it take?", rewritten=False
    )


def test_a_follow_up_of_a_follow_up_keeps_the_subject() -> None:
    history = [SUNDIAL, Turn("and how long does it take?"), Turn("Who made it?")]
    rewrite = standalone_question("What does it cost?", history)
    assert rewrite.text.startswith(SUNDIAL.question)
    assert rewrite.text.endswith("and how long does it take? Who made it? What does it cost?")
    # A new subject starts a new chain.
    fresh = [*history, Turn("What is the decimal module?")]
    assert (
        standalone_question("Why use it?", fresh).text == "What is the decimal module? Why use it?"
    )


def test_standalone_question_is_bounded() -> None:
    history = [Turn("How do I restore " + "the old quartz sundial " * 30 + "?")]
    history += [Turn("and how long does it take? " * 5)] * 10
    rewrite = standalone_question("and what does it cost?", history)
    assert len(rewrite.text) <= MAX_STANDALONE_CHARS
    assert rewrite.text.endswith("and what does it cost?")


def test_extractive_answerer_rewrites_with_the_rule(extractive: ExtractiveAnswerer) -> None:
    assert extractive.rewrite("and how long does it take?", [SUNDIAL]).text == (
        f"{SUNDIAL.question} and how long does it take?"
    )


def test_openai_rewrites_a_follow_up_with_the_model(fake: FakeOpenAI) -> None:
    fake.enqueue_reply('"How long does restoring the quartz sundial take?"\nextra line')
    rewrite = answerer(fake).rewrite("and how long does it take?", [SUNDIAL])
    assert rewrite == Rewrite(
        "How long does restoring the quartz sundial take?",
        rewritten=True,
        prompt_tokens=rewrite.prompt_tokens,
        completion_tokens=rewrite.completion_tokens,
    )
    assert rewrite.prompt_tokens > 0
    request = fake.chat_requests()[-1].body
    prompt = request["messages"][-1]["content"]
    assert "Q: How do I restore the quartz sundial?" in prompt
    assert "A: Clean the gnomon with brass polish." in prompt, "citation markers are dropped"
    assert prompt.endswith("Last question: and how long does it take?")
    assert request["max_tokens"] <= 100 and not request.get("stream")


def test_openai_rewrite_falls_back_to_the_rule(fake: FakeOpenAI) -> None:
    before = len(fake.chat_requests())
    fake.enqueue("error", "error", "error")
    rewrite = answerer(fake).rewrite("and how long does it take?", [SUNDIAL])
    assert rewrite.text == f"{SUNDIAL.question} and how long does it take?"
    assert len(fake.chat_requests()) > before, "the model was asked first"
    for cue in ("empty", "not_found"):
        fake.enqueue(cue)
        assert answerer(fake).rewrite("Why?", [SUNDIAL]).text == f"{SUNDIAL.question} Why?"


def test_openai_rewrite_needs_no_call_without_history(fake: FakeOpenAI) -> None:
    before = len(fake.chat_requests())
    assert answerer(fake).rewrite("Why?", []) == Rewrite("Why?", rewritten=False)
    assert len(fake.chat_requests()) == before
