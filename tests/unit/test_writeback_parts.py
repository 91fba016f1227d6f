"""Pure parts of the write-back: sentence selection, site settings, a generator's failure, the
draft's blocks, the research brief, and how WordPress's requests become runs. No model, no
database."""

from __future__ import annotations

import numpy as np
import pytest

from pressrag.assets.writeback.summaries import summarise_one
from pressrag.resources.writeback.drafts import (
    Block,
    DraftRequest,
    ResearchBriefWriter,
    Source,
    _rank,
    blocks_from_markdown,
    key_passage,
    queries_for,
)
from pressrag.resources.writeback.store import PendingSummary, RequestEvent
from pressrag.resources.writeback.summarisers import (
    Summary,
    SummaryInput,
    SummaryStyle,
    candidate_sentences,
    select_central,
    style_for,
)


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_central_sentences_win_and_repeats_are_avoided() -> None:
    vectors = np.stack(
        [
            unit(1, 0, 0),  # on topic
            unit(1, 0.05, 0),  # the same point again
            unit(0, 0, 1),  # an aside
            unit(0.8, 0.6, 0),  # on topic, another angle
        ]
    )
    chosen = select_central(unit(1, 0.2, 0), vectors, [10, 10, 10, 10], SummaryStyle(words=20))
    # One of the two near-duplicates, then the other angle; never the aside; document order.
    assert chosen in ([0, 3], [1, 3])


def test_the_word_budget_is_kept_but_one_sentence_always_chosen() -> None:
    vectors = np.stack([unit(1, 0), unit(0.9, 0.1), unit(0.8, 0.2)])
    lengths = [50, 50, 5]
    chosen = select_central(unit(1, 0), vectors, lengths, SummaryStyle(words=60))
    assert len(chosen) == 2 and sum(lengths[i] for i in chosen) <= 60
    assert select_central(unit(1, 0), vectors[:1], [500], SummaryStyle(words=60)) == [0]


def test_candidates_drop_bullets_and_lead_ins() -> None:
    text = (
        "Python is an easy to learn, powerful programming language.\n"
        "* It has efficient high-level data structures and a simple approach.\n"
        "You can do it in several ways:\n"
        ">>> print('code is not prose')"
    )
    assert candidate_sentences(text) == [
        "Python is an easy to learn, powerful programming language.",
        "It has efficient high-level data structures and a simple approach.",
    ]


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, SummaryStyle(words=60, min_words=80, language=None)),
        (
            {"summary_words": 120, "summary_min_words": 0, "summary_language": "German"},
            SummaryStyle(words=120, min_words=0, language="German"),
        ),
        ({"summary_words": 5000, "summary_min_words": -3}, SummaryStyle(words=400, min_words=0)),
    ],
)
def test_site_settings_within_bounds(settings: dict, expected: SummaryStyle) -> None:
    assert style_for(settings) == expected


class KeyEchoingModel:
    """A chat endpoint whose error names the key it was given, as OpenAI's 401 does."""

    generator, model = "openai", "echo-1"

    def summarise(self, site_id: str, doc: SummaryInput, style: SummaryStyle) -> Summary:
        raise RuntimeError(
            "Error code: 401 - Incorrect API key provided: sk-proj-abcdefghijklmnop\n"
            "at https://user:hunter2@llm.example/v1 " + "x" * 1000
        )


def test_a_generator_failure_is_recorded_without_secrets() -> None:
    doc = PendingSummary(1, 7, "post", "Bees", None, "word " * 100, "hash", 0)
    status, summary, _, detail = summarise_one(KeyEchoingModel(), "s", doc, SummaryStyle())
    assert (status, summary) == ("failed", None)
    assert detail is not None and detail.startswith("RuntimeError: Error code: 401")
    assert "abcdefghijklmnop" not in detail and "hunter2" not in detail
    assert "\n" not in detail and len(detail) < 600


def test_markdown_from_a_model_becomes_blocks_with_valid_markers_only() -> None:
    text = (
        "# Title-ish heading\n\nFirst **bold** claim [1]. Invented [7].\nSame paragraph [2].\n"
        "\n- one [1]\n* two\n> a quote [2]\n### Deeper\nLast line [1][2]"
    )
    assert blocks_from_markdown(text, [1, 2]) == [
        Block("heading", "Title-ish heading", level=2),
        Block("paragraph", "First bold claim [1]. Invented. Same paragraph [2]."),
        Block("list", items=("one [1]", "two")),
        Block("quote", "a quote [2]"),
        Block("heading", "Deeper", level=3),
        Block("paragraph", "Last line [1][2]"),
    ]


def test_key_passages_keep_whole_sentences() -> None:
    passage = " ".join(f"Sentence number {i} says something useful about bees." for i in range(20))
    quote = key_passage(passage, words=20)
    assert quote.endswith("bees.") and 20 <= len(quote.split()) <= 30


def test_every_outline_item_keeps_a_source() -> None:
    sources = [Source(0, 10 + i, f"Post {i}", f"https://x/{i}") for i in range(8)]
    for source in sources:
        source.queries = {0}
    sources[7].queries = {2}  # only the second outline item found this one
    kept = _rank(sources, n_queries=3)
    assert [s.wp_id for s in kept][:6] == [10, 11, 12, 13, 14, 15]
    assert kept[-1].wp_id == 17 and [s.n for s in kept] == list(range(1, 8))


def test_the_research_brief_quotes_without_writing() -> None:
    request = DraftRequest("Bees", outline=("Winter", "Summer"))
    winter = Source(1, 5, "Winter bees", "u", ["Bees cluster in winter. They eat honey."], {0, 1})
    summer = Source(2, 6, "Summer bees", "u", ["Bees forage in summer."], {2})
    draft = ResearchBriefWriter().write("s", request, [winter, summer])
    assert (draft.kind, draft.generator) == ("research_brief", "extractive")
    assert draft.as_payload()["blocks"] == [
        {"type": "heading", "text": "Winter", "level": 2},
        {"type": "quote", "text": "Bees cluster in winter. They eat honey.", "source": 1},
        {"type": "heading", "text": "Summer", "level": 2},
        {"type": "quote", "text": "Bees forage in summer.", "source": 2},
    ]
    assert queries_for(request) == ["Bees", "Bees: Winter", "Bees: Summer"]


def test_requests_become_one_run_per_site_and_one_per_draft() -> None:
    from pressrag.orchestration.writeback import plan_requests

    draft = {"request_id": "drq_00000000-0000-4000-8000-000000000009", "topic": "T", "words": 300}
    events = [
        RequestEvent(1, "e1", "a", "summary.regenerate_requested", {"wp_id": 3}),
        RequestEvent(2, "e2", "a", "summary.regenerate_requested", {"wp_id": 4}),
        RequestEvent(3, "e3", "b", "summary.regenerate_requested", {"wp_id": True}),
        RequestEvent(4, "e4", "b", "draft.requested", draft),
        RequestEvent(5, "e5", "b", "draft.requested", {**draft, "words": 99_999}),
        RequestEvent(6, "e6", "b", "draft.requested", {**draft, "request_id": "x"}),
    ]
    requests = plan_requests(events)
    assert [(r.job_name, r.tags["pressrag/site"]) for r in requests] == [
        ("write_draft", "b"),
        ("write_back_site", "a"),
    ]
    config = requests[1].run_config["ops"]["summaries"]["config"]
    assert (config["sites"], config["regenerate_wp_ids"]) == (["a"], [3, 4])
    assert requests[0].run_key == "draft-e4"
    # The same events give the same run keys: a sensor tick is never launched twice.
    assert [r.run_key for r in plan_requests(events)] == [r.run_key for r in requests]


@pytest.mark.parametrize(
    ("event_type", "data", "ok"),
    [
        ("summary.regenerate_requested", {"wp_id": 12, "post_type": "post"}, True),
        ("summary.regenerate_requested", {"wp_id": "12"}, False),
        ("draft.requested", {"request_id": "drq_x", "topic": "Bees", "words": 600}, True),
        ("draft.requested", {"request_id": "drq_x"}, False),
    ],
)
def test_the_webhook_intake_knows_and_checks_write_back_requests(
    event_type: str, data: dict, ok: bool
) -> None:
    import json

    from pressrag.resources.webhooks import WebhookError, parse_event

    body = json.dumps({"type": event_type, "site": "demo", "data": data}).encode()
    if ok:
        assert parse_event(body).known
    else:
        with pytest.raises(WebhookError) as refused:
            parse_event(body)
        assert refused.value.status == 400
