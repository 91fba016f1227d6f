"""`site.golden_questions` through a real serving process: the plugin's list becomes the site's
`plugin` golden questions at intake, replacing the previous list and nothing else."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from pressrag.orchestration.sites import add_site
from pressrag.resources.store import Store
from pressrag.resources.store.quality import add_golden, list_golden
from tests.conftest import PressragEnv, site_info
from tests.support.dagster_daemon import ServingProcess, WebhookSender, serving_fixture_env

SITE = "golden-hook"
BASE = "http://127.0.0.1:9/golden"
TYPE = "site.golden_questions"


@dataclass
class Intake:
    sender: WebhookSender
    app_url: str

    def golden(self) -> list[tuple[str, str, str]]:
        with Store(self.app_url, max_size=1) as store, store.connection() as conn:
            return [(q.question, q.expected_url, q.source) for q in list_golden(conn, SITE)]

    def inbox_statuses(self) -> list[str]:
        with Store(self.app_url, max_size=1) as store, store.connection() as conn:
            rows = conn.execute(
                "SELECT status FROM inbox WHERE site_id = %s AND event_type = %s ORDER BY id",
                (SITE, TYPE),
            )
            return [r[0] for r in rows]


@pytest.fixture(scope="module")
def intake(pressrag_env: PressragEnv) -> Iterator[Intake]:
    add_site(SITE, url=BASE)
    app_url = os.environ["PRESSRAG_APP_DB_URL"]
    with Store(app_url, max_size=1) as store, store.connection() as conn:
        add_golden(conn, SITE, [("Who wrote it?", f"{BASE}/about/")], source="cli")
    serving = ServingProcess(env=serving_fixture_env()).start()
    try:
        serving.wait_ready(timeout=120)
        sender = WebhookSender(serving.url, SITE, site_info(SITE).webhook_secret)
        yield Intake(sender=sender, app_url=app_url)
    finally:
        serving.stop()
        with Store(app_url, max_size=1) as store, store.connection() as conn:
            conn.execute("DELETE FROM sites WHERE id = %s", (SITE,))


def _send(intake: Intake, revision: int, pairs: list[tuple[str, str]]) -> httpx.Response:
    questions = [{"question": q, "url": u} for q, u in pairs]
    _, response = intake.sender.send(TYPE, {"revision": revision, "questions": questions})
    return response


CLI = ("Who wrote it?", f"{BASE}/about/", "cli")


def test_the_plugin_list_replaces_its_own_questions_only(intake: Intake) -> None:
    first = _send(intake, 10, [("Opening hours?", f"{BASE}/hours/"), ("Price?", "/golden/x")])
    assert first.status_code == 400, "a path is resolved by the plugin, never by the backend"
    assert first.json()["error"] == "invalid_event"
    assert "data.questions[1].url" in first.json()["message"]

    first = _send(
        intake,
        10,
        [("Opening   hours?", f"{BASE}/hours/"), ("Price?", "https://127.0.0.1:9/golden/price")],
    )
    assert first.status_code == 202, first.text
    assert intake.golden() == [
        CLI,
        ("Opening hours?", f"{BASE}/hours/", "plugin"),
        ("Price?", "https://127.0.0.1:9/golden/price", "plugin"),
    ]
    second = _send(intake, 11, [("Where is the shop?", f"{BASE}/contact/")])
    assert second.status_code == 202, second.text
    assert intake.golden() == [CLI, ("Where is the shop?", f"{BASE}/contact/", "plugin")]
    # Applied at intake: the sensor never sees these events.
    assert set(intake.inbox_statuses()) == {"processed"}


def test_an_older_list_arriving_late_changes_nothing(intake: Intake) -> None:
    assert _send(intake, 20, [("Newest?", f"{BASE}/new/")]).status_code == 202
    late = _send(intake, 19, [("Older?", f"{BASE}/old/")])
    assert late.status_code == 202, "acknowledged, or the plugin would retry it for hours"
    assert intake.golden() == [CLI, ("Newest?", f"{BASE}/new/", "plugin")]


def test_a_redelivered_event_is_a_duplicate_that_changes_nothing(intake: Intake) -> None:
    body = intake.sender.body(
        TYPE, {"revision": 30, "questions": [{"question": "Q30?", "url": f"{BASE}/30/"}]}
    )
    first = intake.sender.post(body, event_id="msg_golden-replay")
    assert first.status_code == 202
    assert _send(intake, 31, [("Q31?", f"{BASE}/31/")]).status_code == 202
    again = intake.sender.post(body, event_id="msg_golden-replay")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert intake.golden() == [CLI, ("Q31?", f"{BASE}/31/", "plugin")]


def test_an_empty_list_removes_the_plugin_questions(intake: Intake) -> None:
    assert _send(intake, 40, [("Q40?", f"{BASE}/40/")]).status_code == 202
    assert _send(intake, 41, []).status_code == 202
    assert intake.golden() == [CLI]


def _one(question: str, url: str) -> dict:
    return {"revision": 50, "questions": [{"question": question, "url": url}]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_one("Q?", "http://evil.test/golden/"), "data.questions[0].url"),
        (_one("Q?", "http://127.0.0.1:10/golden/"), "data.questions[0].url"),
        (_one("Q?", "javascript:alert(1)"), "data.questions[0].url"),
        (_one("  ", f"{BASE}/a/"), "data.questions[0].question"),
        (_one("Q" * 301, f"{BASE}/a/"), "data.questions[0].question"),
        (
            {"revision": 50, "questions": _one("Q?", f"{BASE}/a/")["questions"] * 201},
            "data.questions",
        ),
        ({"revision": 50, "questions": "Q? | /a/"}, "data.questions"),
        ({"questions": []}, "data.revision"),
        ({"revision": 2**63, "questions": []}, "data.revision"),
    ],
)
def test_a_bad_list_is_refused_naming_the_field_and_keeps_the_current_one(
    intake: Intake, data: dict, field: str
) -> None:
    assert _send(intake, 60, [("Kept?", f"{BASE}/kept/")]).status_code == 202
    _, response = intake.sender.send(TYPE, data)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_event"
    assert field in response.json()["message"]
    assert intake.golden() == [CLI, ("Kept?", f"{BASE}/kept/", "plugin")]
