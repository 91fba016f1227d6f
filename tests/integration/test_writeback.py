"""Write-back through Dagster on the real stack: embedded Postgres, the real local model, the
real `openai` client against the fake OpenAI-compatible server, and signed callbacks to a
fake WordPress that keeps the plugin's callback contract (tests/support/fake_plugin.py).

Each test registers its own site, so the shared sample sites are only read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pytest

from pressrag.assets.writeback.definitions import WRITEBACK_ASSETS, WRITEBACK_CHECKS
from pressrag.orchestration.sites import add_site
from pressrag.orchestration.writeback import writeback_run_config
from pressrag.resources.settings import get_settings
from pressrag.resources.store import Store
from pressrag.resources.writeback.summarisers import candidate_sentences, word_count
from tests.conftest import SAMPLE_WXR, PressragEnv, site_info
from tests.support.fake_openai import FakeOpenAI
from tests.support.fake_plugin import FakeWordPressWithPlugin
from tests.support.indexing import asset_metadata, materialize_site, resources

pytestmark = pytest.mark.integration

LOCAL_MODEL = "local:sentence-transformers/all-MiniLM-L6-v2"
SITE = "wxr-summaries"  # the shipped sample as a site of this module's own


def bees(topic: str, detail: str) -> str:
    """A post of ~120 words about one beekeeping task (long enough to be summarised)."""
    sentences = [
        f"Beekeepers plan {topic} carefully because the colony depends on it.",
        f"The main thing to know is that {detail}.",
        "An experienced keeper checks the frames slowly and calmly, without crushing bees.",
        f"Most mistakes with {topic} come from hurrying or from opening the hive in cold wind.",
        "A smoker, a hive tool and a veil are all the equipment the job really needs.",
        f"Write down what you saw during {topic}, so the next inspection can compare.",
        "Healthy colonies forgive small errors, but weak ones rarely recover from them.",
        f"In short, {topic} rewards patience more than strength or expensive tools.",
    ]
    return "".join(f"<p>{s} {s.lower().capitalize()}</p>" for s in sentences)


POSTS = [
    {"title": "Spring inspections", "content": bees("spring inspections", "queens lay early")},
    {"title": "Harvesting honey", "content": bees("the honey harvest", "frames must be capped")},
    {"title": "Winter clusters", "content": bees("wintering", "the cluster keeps 20 °C")},
    {"title": "A short note", "content": "<p>Bees are busy today. The sun is out.</p>"},
    {
        "title": "Private queen rearing",
        "content": bees("queen rearing", "grafting larvae needs a steady hand"),
        "status": "private",
    },
]


def _store() -> Store:
    return Store(os.environ["PRESSRAG_APP_DB_URL"], max_size=1)


@contextmanager
def rest_site(site_id: str, posts: list[dict] = POSTS) -> Iterator[FakeWordPressWithPlugin]:
    """A registered, indexed REST site on a fake WordPress with the plugin's callback route."""
    with FakeWordPressWithPlugin() as wordpress:
        for post in posts:
            wordpress.upsert(post)
        add_site(site_id, url=wordpress.base_url)
        wordpress.webhook_secret = site_info(site_id).webhook_secret
        assert materialize_site(site_id).success
        yield wordpress


def write_back(site_id: str, **config: Any) -> dg.ExecuteInProcessResult:
    """Materialize the write-back assets (and check) for one site, in process."""
    return dg.materialize(
        [*WRITEBACK_ASSETS, *WRITEBACK_CHECKS],
        instance=dg.DagsterInstance.get(),
        run_config=writeback_run_config([site_id], **config),
        resources=resources(),
        raise_on_error=False,
    )


def summaries_of(site_id: str) -> dict[int, dict]:
    """wp_id → its summary row (status, text, generator, model, generated_at, delivery)."""
    with _store() as store, store.connection() as conn:
        rows = conn.execute(
            """SELECT d.wp_id, s.status, s.summary, s.generator, s.model, s.generated_at,
                      s.delivery_status, s.delivery_note, s.detail, d.extracted_text
               FROM summaries s JOIN documents d ON d.id = s.document_id
               WHERE s.site_id = %s""",
            (site_id,),
        ).fetchall()
    keys = ("status", "summary", "generator", "model", "generated_at", "delivery")
    return {
        r[0]: dict(zip(keys, r[1:7], strict=True)) | {"note": r[7], "detail": r[8], "text": r[9]}
        for r in rows
    }


def check_passed(result: dg.ExecuteInProcessResult) -> bool:
    evaluations = result.get_asset_check_evaluations()
    assert evaluations, "the summary check did not run"
    return all(e.passed for e in evaluations)


@pytest.fixture
def chat_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """PRESSRAG_ANSWERER=openai against the fake server (settings re-read in this process)."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("PRESSRAG_ANSWERER", "openai")
        monkeypatch.setenv("PRESSRAG_OPENAI_API_KEY", "sk-test-not-a-real-key")
        monkeypatch.setenv("PRESSRAG_OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("PRESSRAG_OPENAI_CHAT_MODEL", "fake-chat-1")
        get_settings.cache_clear()
        try:
            yield fake
        finally:
            monkeypatch.undo()
            get_settings.cache_clear()


# ---- summaries ---------------------------------------------------------------------------


def test_sample_site_gets_extractive_summaries_kept_in_pressrag(
    pressrag_env: PressragEnv,
) -> None:
    """The embedded default on the shipped sample: every public document is summarised by the
    local model's most central sentences (labelled extractive), or skipped as too short; the
    WXR site keeps them in PressRAG; an unchanged re-run makes no generator call."""
    # A site of its own: the session's `demo` is shared by the worker's test files, and a
    # daemon started by one of them may have summarised it already (`writeback_automation`).
    add_site(SITE, wxr=str(SAMPLE_WXR))
    assert materialize_site(SITE).success
    first = write_back(SITE)
    assert first.success
    meta = asset_metadata(first, "summaries")
    assert meta["generator"] == "extractive" and meta["model"] == LOCAL_MODEL
    assert meta["failed"] == 0 and meta["summarised"] >= 30, meta
    assert check_passed(first)
    delivery = asset_metadata(first, "summaries_to_wordpress")
    assert delivery["sent"] == 0 and "kept in PressRAG only" in str(delivery["per_site"])

    rows = summaries_of(SITE)
    summarised = {k: v for k, v in rows.items() if v["status"] == "summarised"}
    assert len(summarised) == meta["summarised"]
    for row in summarised.values():
        assert row["generator"] == "extractive" and row["model"] == LOCAL_MODEL
        assert 5 <= word_count(row["summary"]) <= 90, row["summary"]
        # Extractive: every sentence is the document's own.
        sentences = candidate_sentences(row["text"])
        rest = row["summary"]
        for sentence in sentences:
            rest = rest.replace(sentence, "")
        rest = rest.strip()  # empty, or a last sentence cut at the length limit
        assert not rest or (
            rest.endswith(" …") and any(s.startswith(rest[:-2]) for s in sentences)
        ), row["summary"]
    for row in rows.values():
        if row["status"] == "skipped":
            assert "shorter than" in row["detail"] or "no prose" in row["detail"]

    again = write_back(SITE)
    assert again.success
    assert asset_metadata(again, "summaries")["generator_calls"] == 0
    assert {k: v["generated_at"] for k, v in summaries_of(SITE).items()} == {
        k: v["generated_at"] for k, v in rows.items()
    }


def test_chat_model_summaries_and_an_edit_resummarises_exactly_that_post(
    pressrag_env: PressragEnv, chat_model: FakeOpenAI
) -> None:
    with rest_site("wb-chat") as wordpress:
        for n in range(3):
            chat_model.enqueue_reply(f"  \u201cSummary number {n}: the bees are fine.\u201d ")
        first = write_back("wb-chat")
        assert first.success
        requests = chat_model.chat_requests()
        assert len(requests) == 3  # the three long public posts; short and private: no call
        for request in requests:
            assert request.body["model"] == "fake-chat-1"
            system = request.body["messages"][0]["content"]
            assert "60 words or fewer" in system and "the language the page is written in" in system
        rows = summaries_of("wb-chat")
        titles = {p["title"]: wp_id for wp_id, p in _posts(wordpress).items()}
        for n, request in enumerate(requests):
            title = request.body["messages"][1]["content"].split("\n")[0].removeprefix("Title: ")
            row = rows[titles[title]]
            assert row["summary"] == f"Summary number {n}: the bees are fine."
            assert (row["generator"], row["model"]) == ("openai", "fake-chat-1")
        assert rows[titles["A short note"]]["status"] == "skipped"
        assert titles["Private queen rearing"] not in rows
        assert check_passed(first)
        # Delivered to WordPress, each once.
        assert sorted(w[0] for w in wordpress.writes) == sorted(
            titles[t] for t in ("Spring inspections", "Harvesting honey", "Winter clusters")
        )

        unchanged = write_back("wb-chat")
        assert unchanged.success
        assert len(chat_model.chat_requests()) == 3  # no new call
        assert asset_metadata(unchanged, "summaries_to_wordpress")["sent"] == 0

        edited = titles["Harvesting honey"]
        wordpress.upsert({"id": edited, "content": bees("the honey harvest", "wet honey ferments")})
        assert materialize_site("wb-chat", wp_ids=[edited]).success
        chat_model.enqueue_reply("The harvest waits until the frames are capped.")
        after_edit = write_back("wb-chat")
        assert after_edit.success
        assert len(chat_model.chat_requests()) == 4  # exactly one more call
        assert "wet honey ferments" in chat_model.chat_requests()[-1].body["messages"][1]["content"]
        now = summaries_of("wb-chat")
        changed = {k for k in rows if rows[k]["generated_at"] != now[k]["generated_at"]}
        assert changed == {edited}
        assert now[edited]["summary"] == "The harvest waits until the frames are capped."
        assert [w[0] for w in wordpress.writes].count(edited) == 2
        assert asset_metadata(after_edit, "summaries_to_wordpress")["stored"] == 1


def _posts(wordpress: FakeWordPressWithPlugin) -> dict[int, dict]:
    return {p["id"]: p for p in wordpress._snapshot()}


def test_a_callback_that_fails_twice_then_succeeds_lands_once(pressrag_env: PressragEnv) -> None:
    with rest_site("wb-retry") as wordpress:
        wordpress.fail_callbacks(2, status=503)
        result = write_back("wb-retry")
        assert result.success
        retries = [
            e
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
            and e.step_key == "summaries_to_wordpress"
        ]
        assert len(retries) == 2  # Dagster's RetryPolicy, not a loop of ours
        assert wordpress.callbacks == [("summaries.deliver", 503)] * 2 + [
            ("summaries.deliver", 200)
        ]
        written = [w[0] for w in wordpress.writes]
        assert len(written) == 3 and len(set(written)) == 3  # each post once
        assert asset_metadata(result, "summaries_to_wordpress")["stored"] == 3

        # A resend of the same version (an answer lost after WordPress stored it) changes
        # nothing there, and an unchanged re-run sends nothing at all.
        with _store() as store, store.connection() as conn:
            conn.execute("UPDATE summaries SET delivered_version = NULL WHERE site_id = 'wb-retry'")
        resent = write_back("wb-retry")
        assert asset_metadata(resent, "summaries_to_wordpress")["unchanged"] == 3
        assert len(wordpress.writes) == 3
        quiet = write_back("wb-retry")
        assert asset_metadata(quiet, "summaries_to_wordpress")["sent"] == 0
        assert len(wordpress.callbacks) == 4


def test_posts_not_public_at_send_time_are_never_written(pressrag_env: PressragEnv) -> None:
    with rest_site("wb-private") as wordpress:
        titles = {p["title"]: wp_id for wp_id, p in _posts(wordpress).items()}
        spring, winter = titles["Spring inspections"], titles["Winter clusters"]
        summarised = write_back("wb-private", regenerate_wp_ids=[])
        assert summarised.success
        # Made private and deleted in WordPress after they were summarised and delivered;
        # then regenerated before PressRAG heard about it: WordPress refuses both.
        wordpress.upsert({"id": spring, "status": "private"})
        wordpress.delete(winter)
        before = len(wordpress.writes)
        result = write_back("wb-private", regenerate_wp_ids=[spring, winter])
        assert result.success
        rows = summaries_of("wb-private")
        assert (rows[spring]["delivery"], rows[spring]["note"]) == ("skipped", "not_public")
        assert (rows[winter]["delivery"], rows[winter]["note"]) == ("skipped", "not_found")
        assert len(wordpress.writes) == before
        assert asset_metadata(result, "summaries_to_wordpress")["skipped_by_wordpress"] == 2
        # Once the index knows, the summaries are gone and nothing is sent for them.
        assert materialize_site("wb-private").success
        after = write_back("wb-private")
        remaining = {titles["Harvesting honey"], titles["A short note"]}
        assert set(summaries_of("wb-private")) == remaining
        assert asset_metadata(after, "summaries_to_wordpress")["sent"] == 0
        assert titles["Private queen rearing"] not in {w[0] for w in wordpress.writes}


def test_a_refused_signature_fails_at_once_with_a_clear_reason(pressrag_env: PressragEnv) -> None:
    with rest_site("wb-wrong-secret") as wordpress:
        wordpress.webhook_secret = "whsec_" + "A" * 43 + "="  # not the site's secret
        result = write_back("wb-wrong-secret")
        assert not result.success
        assert wordpress.callbacks == [("summaries.deliver", 401)]  # no retry of a 401
        failure = next(
            e
            for e in result.all_events
            if e.is_step_failure and e.step_key == "summaries_to_wordpress"
        )
        message = failure.step_failure_data.user_failure_data.description
        assert "webhook secret" in message and "whsec_" not in message
        assert all(v["delivery"] is None for v in summaries_of("wb-wrong-secret").values())


def test_a_site_without_the_plugin_keeps_its_summaries(pressrag_env: PressragEnv) -> None:
    """Any public WordPress can be indexed; without the plugin there is nothing to write to,
    which is not a failure, and the summaries wait in PressRAG."""
    with rest_site("wb-no-plugin") as wordpress:
        wordpress.plugin_active = False
        result = write_back("wb-no-plugin")
        assert result.success
        delivery = asset_metadata(result, "summaries_to_wordpress")
        assert delivery["sent"] == 0 and "is not active there" in str(delivery["per_site"])
        rows = summaries_of("wb-no-plugin")
        assert len(rows) == 4 and all(row["delivery"] is None for row in rows.values())
        assert wordpress.callbacks == [("summaries.deliver", 404)]  # one request, no retries


# ---- drafts --------------------------------------------------------------------------------


def run_draft(site_id: str, request_id: str, **request: object) -> dg.ExecuteInProcessResult:
    """The `write_draft` job in process, with the run config the sensor gives it."""
    from pressrag.orchestration.definitions import defs

    config = {"site": site_id, "request_id": request_id, **request}
    return defs.get_job_def("write_draft").execute_in_process(
        run_config={"ops": {"compose_draft": {"config": config}}},
        instance=dg.DagsterInstance.get(),
        tags={"pressrag/site": site_id, "pressrag/draft_request": request_id},
        resources=resources(),
        raise_on_error=False,
    )


def test_without_a_chat_model_a_draft_is_a_research_brief(pressrag_env: PressragEnv) -> None:
    with rest_site("wb-brief") as wordpress:
        posts = _posts(wordpress)
        titles = {p["title"]: wp_id for wp_id, p in posts.items()}
        request_id = "drq_00000000-0000-4000-8000-000000000001"
        outline = ["When the frames are capped", "Keeping the colony calm"]
        result = run_draft(
            "wb-brief", request_id, topic="Harvesting honey", outline=outline, words=400
        )
        assert result.success, result.all_events
        assert wordpress.callback_types() == ["draft.progress", "draft.progress", "draft.create"]
        assert [p["status"] for p in wordpress.progress] == ["running", "writing"]
        draft = wordpress.drafts[request_id]
        assert (draft["kind"], draft["generator"]) == ("research_brief", "extractive")
        assert draft["title"] == "Harvesting honey"
        sources = {s["n"]: s for s in draft["sources"]}
        assert titles["Harvesting honey"] in {s["wp_id"] for s in sources.values()}
        assert titles["Private queen rearing"] not in {s["wp_id"] for s in sources.values()}
        headings = [b["text"] for b in draft["blocks"] if b["type"] == "heading"]
        assert headings == outline
        quotes = [b for b in draft["blocks"] if b["type"] == "quote"]
        assert quotes
        for quote in quotes:
            source = posts[sources[quote["source"]]["wp_id"]]
            first_words = " ".join(quote["text"].split()[:6])
            assert first_words in source["content"], quote

        # The same request again (a retried step, a lost answer): one post in WordPress.
        again = run_draft("wb-brief", request_id, topic="Harvesting honey", outline=outline)
        assert again.success
        assert len(wordpress.drafts) == 1
        assert asset_free_metadata(again)["wordpress"] == "exists"


def asset_free_metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    """The op output's metadata of a job run."""
    outputs = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
    assert outputs
    return {k: v.value for k, v in outputs[-1].step_output_data.metadata.items()}


def test_with_a_chat_model_a_draft_is_prose_citing_the_posts_used(
    pressrag_env: PressragEnv, chat_model: FakeOpenAI
) -> None:
    with rest_site("wb-prose") as wordpress:
        chat_model.enqueue_reply(
            "## When to harvest\n\nHarvest once the frames are capped [1]. The moon helps [9].\n\n"
            "- Bring a **smoker** [2]\n- Stay calm\n\nThat is all [1][2]."
        )
        request_id = "drq_00000000-0000-4000-8000-000000000002"
        result = run_draft("wb-prose", request_id, topic="Harvesting honey", words=300)
        assert result.success
        (request,) = chat_model.chat_requests()
        system, user = (m["content"] for m in request.body["messages"])
        assert "about 300 words" in system and "Topic: Harvesting honey" in user
        assert "[1] " in user and "Private queen rearing" not in user
        draft = wordpress.drafts[request_id]
        assert (draft["kind"], draft["generator"], draft["model"]) == (
            "prose",
            "openai",
            "fake-chat-1",
        )
        assert draft["blocks"] == [
            {"type": "heading", "text": "When to harvest", "level": 2},
            {
                "type": "paragraph",
                "text": "Harvest once the frames are capped [1]. The moon helps.",
            },
            {"type": "list", "items": ["Bring a smoker [2]", "Stay calm"]},
            {"type": "paragraph", "text": "That is all [1][2]."},
        ]


def test_a_failed_draft_is_reported_to_wordpress(pressrag_env: PressragEnv) -> None:
    from pressrag.orchestration.writeback import draft_failed

    with rest_site("wb-empty", posts=[]) as wordpress:
        request_id = "drq_00000000-0000-4000-8000-000000000003"
        result = run_draft("wb-empty", request_id, topic="Harvesting honey")
        assert not result.success
        instance = dg.DagsterInstance.get()
        failure = next(
            e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE
        )
        context = dg.build_run_status_sensor_context(
            sensor_name="draft_failed",
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            resources={k: v for k, v in resources().items() if k in ("store", "callbacks")},
        ).for_run_failure()
        draft_failed(context)
        last = wordpress.progress[-1]
        assert (last["request_id"], last["status"]) == (request_id, "failed")
        assert last["message"] == "nothing on the site matches this topic"
        assert wordpress.drafts == {}


def test_wordpress_requests_in_the_inbox_become_runs(pressrag_env: PressragEnv) -> None:
    from pressrag.orchestration.writeback import writeback_requests
    from pressrag.resources.dagster_resources import StoreResource
    from pressrag.resources.store import inbox

    add_site("wb-requests", url="http://127.0.0.1:9")
    with _store() as store, store.connection() as conn:
        start = conn.execute("SELECT coalesce(max(id), 0) FROM inbox").fetchone()[0]
        events = [
            ("summary.regenerate_requested", {"wp_id": 5}),
            ("summary.regenerate_requested", {"wp_id": 7}),
            ("summary.regenerate_requested", {"wp_id": "seven"}),
            (
                "draft.requested",
                {
                    "request_id": "drq_00000000-0000-4000-8000-000000000004",
                    "topic": "Honey",
                    "outline": ["Timing"],
                    "words": 500,
                },
            ),
            ("draft.requested", {"request_id": "drq_00000000-0000-4000-8000-000000000005"}),
            ("document.upserted", {"wp_id": 5}),  # the indexing sensor's, not ours
        ]
        for n, (kind, data) in enumerate(events):
            payload = {"type": kind, "site": "wb-requests", "occurred_at": None, "data": data}
            inbox.insert_event(
                conn,
                event_id=f"msg_wb_{start}_{n}",
                site_id="wb-requests",
                event_type=kind,
                payload=payload,
            )
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.get(), cursor=str(start), resources={"store": StoreResource()}
    )
    result = writeback_requests(context)
    by_job = {r.job_name: r for r in result.run_requests}
    assert len(result.run_requests) == 2, result.run_requests
    regenerate = by_job["write_back_site"]
    assert regenerate.run_config == writeback_run_config(["wb-requests"], regenerate_wp_ids=[5, 7])
    draft = by_job["write_draft"]
    assert draft.run_config["ops"]["compose_draft"]["config"] == {
        "site": "wb-requests",
        "request_id": "drq_00000000-0000-4000-8000-000000000004",
        "topic": "Honey",
        "outline": ["Timing"],
        "words": 500,
    }
    assert draft.tags["pressrag/draft_request"] == "drq_00000000-0000-4000-8000-000000000004"
    # The cursor moves past everything read, so nothing is launched twice.
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.get(),
        cursor=result.cursor,
        resources={"store": StoreResource()},
    )
    assert writeback_requests(context).run_requests == []
