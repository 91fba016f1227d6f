"""`POST /v1/webhooks/wordpress` in a real serving process: what it refuses, and that a
refusal stores nothing. (What happens to accepted events is in test_freshness.py.)"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from pressrag.orchestration.sites import add_site
from pressrag.resources.store import Store
from pressrag.resources.webhooks import MAX_BODY_BYTES, TOLERANCE_SECONDS
from tests.conftest import PressragEnv, site_info
from tests.support.dagster_daemon import ServingProcess, WebhookSender, serving_fixture_env

SITE, OTHER = "hooks-a", "hooks-b"


@dataclass
class Intake:
    serving: ServingProcess
    sender: WebhookSender
    other_secret: str
    app_url: str

    def inbox_size(self) -> int:
        with Store(self.app_url, max_size=1) as store, store.connection() as conn:
            return conn.execute(
                "SELECT count(*) FROM inbox WHERE site_id IN (%s, %s)", (SITE, OTHER)
            ).fetchone()[0]


@pytest.fixture(scope="module")
def intake(pressrag_env: PressragEnv) -> Iterator[Intake]:
    add_site(SITE, url="http://127.0.0.1:9/a")
    add_site(OTHER, url="http://127.0.0.1:9/b")
    serving = ServingProcess(env=serving_fixture_env()).start()
    try:
        serving.wait_ready(timeout=120)
        yield Intake(
            serving=serving,
            sender=WebhookSender(serving.url, SITE, site_info(SITE).webhook_secret),
            other_secret=site_info(OTHER).webhook_secret,
            app_url=os.environ["PRESSRAG_APP_DB_URL"],
        )
    finally:
        serving.stop()
        # Their events would otherwise wait for a daemon in a later test (a site that
        # does not exist: failing runs); deleting the sites deletes their inbox rows.
        url = os.environ["PRESSRAG_APP_DB_URL"]
        with Store(url, max_size=1) as store, store.connection() as conn:
            conn.execute("DELETE FROM sites WHERE id IN (%s, %s)", (SITE, OTHER))


def _assert_error(response: httpx.Response, status: int | tuple[int, ...], code: str) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.json()["error"] == code
    assert set(response.json()) == {"error", "message"}


def test_valid_event_is_stored_once(intake: Intake) -> None:
    before = intake.inbox_size()
    body = intake.sender.body("document.upserted", {"wp_id": 7, "post_type": "post"})
    first = intake.sender.post(body, event_id="msg_once-1")
    again = intake.sender.post(body, event_id="msg_once-1")
    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert intake.inbox_size() == before + 1


def test_unknown_type_is_stored_not_refused(intake: Intake) -> None:
    before = intake.inbox_size()
    _, response = intake.sender.send("comment.posted", {"comment_id": 3})
    assert response.status_code == 202
    assert intake.inbox_size() == before + 1


def _refusals(intake: Intake) -> list[tuple[str, object, int | tuple[int, ...], str]]:
    s = intake.sender
    good = s.body("document.upserted", {"wp_id": 1, "post_type": "post"})
    now = int(__import__("time").time())
    bad_json = b'{"type": "document.upserted", "site": "hooks-a", "data": {'
    return [
        ("bad signature", lambda: s.post(good, signature="v1,AAAA"), 401, "invalid_signature"),
        (
            "non-v1 signature only",
            lambda: s.post(good, signature="v2,AAAA"),
            401,
            "invalid_signature",
        ),
        (
            "another site's valid secret",
            lambda: s.post(good, secret=intake.other_secret),
            401,
            "invalid_signature",
        ),
        (
            "stale timestamp",
            lambda: s.post(good, timestamp=now - TOLERANCE_SECONDS - 60),
            (400, 408),
            "stale_timestamp",
        ),
        (
            "future timestamp",
            lambda: s.post(good, timestamp=now + TOLERANCE_SECONDS + 60),
            400,
            "future_timestamp",
        ),
        ("malformed JSON (signed)", lambda: s.post(bad_json), 400, "invalid_event"),
        (
            "body site differs from header",
            lambda: s.post(s.body("document.upserted", {"wp_id": 1}, site=OTHER)),
            400,
            "site_mismatch",
        ),
        (
            "unknown site",
            lambda: s.post(good, site_header="no-such-site"),
            401,
            "invalid_signature",
        ),
        ("invalid site header", lambda: s.post(good, site_header="Bad Site"), 400, "invalid_site"),
        (
            "missing id field",
            lambda: s.post(s.body("document.upserted", {"post_type": "post"})),
            400,
            "invalid_event",
        ),
        (
            "oversized body (Content-Length)",
            lambda: s.post(b"{" + b" " * MAX_BODY_BYTES + b"}"),
            413,
            "body_too_large",
        ),
        (
            "oversized body (chunked, no Content-Length)",
            lambda: httpx.post(
                s.url,
                content=iter([b" " * 65536] * 5),
                headers={
                    "X-PressRAG-Site": SITE,
                    "webhook-id": "msg_big",
                    "webhook-timestamp": "1",
                },
                timeout=30,
            ),
            413,
            "body_too_large",
        ),
    ]


def test_refusals_store_nothing(intake: Intake) -> None:
    """Each refusal is a 4xx JSON error and leaves the inbox as it was."""
    before = intake.inbox_size()
    failures = []
    for name, call, status, code in _refusals(intake):
        response = call()
        try:
            _assert_error(response, status, code)
        except (AssertionError, json.JSONDecodeError) as exc:
            failures.append(f"{name}: {response.status_code} {response.text[:200]} ({exc})")
    assert not failures, "\n".join(failures)
    assert intake.inbox_size() == before


def test_body_under_the_cap_is_accepted(intake: Intake) -> None:
    """The webhook cap (256 KiB) is larger than the API's default body cap: a big term
    change still fits."""
    ids = list(range(1, 9000))
    _, response = intake.sender.send(
        "term.changed", {"taxonomy": "category", "term_id": 4, "wp_ids": ids}
    )
    assert response.status_code == 202, response.text


def test_secret_never_echoed(intake: Intake) -> None:
    response = intake.sender.post(
        intake.sender.body("document.upserted", {"wp_id": 1}), secret=intake.other_secret
    )
    assert intake.other_secret not in response.text
    assert intake.sender.secret not in response.text


def _signed_raw(intake: Intake, body: str) -> httpx.Response:
    return intake.sender.post(body.encode())


def test_signed_but_unstorable_content_is_a_400_naming_the_field(intake: Intake) -> None:
    """Finding 5: the signature is right but PostgreSQL cannot store the content (NUL, a lone
    surrogate, NaN) or the JSON parser cannot nest it. On main each was a 500, which the
    plugin retries forever; now a 400 that names the field, and nothing is stored."""

    def event(data: str, event_type: str = '"document.upserted"') -> str:
        return f'{{"type": {event_type}, "site": "{SITE}", "data": {data}}}'

    cases = [
        (event('{"wp_id": 1, "title": "a\\u0000b"}'), "data.title contains a NUL"),
        (event('{"wp_id": 1}', '"document.\\ud800upserted"'), "type contains a NUL"),
        (event('{"wp_id": 1, "tags": ["ok", "\\udc00"]}'), "data.tags[1] contains"),
        (event('{"wp_id": 1, "k\\u0000ey": 1}'), "a key of data contains"),
        (event('{"wp_id": 1, "score": NaN}'), "data.score is not a finite number"),
        (event('{"wp_id": 1, "big": 1e999}'), "data.big is not a finite number"),
        (event('{"wp_id": 1, "deep": ' + "[" * 50_000 + "]" * 50_000 + "}"), "nested too deeply"),
    ]
    before = intake.inbox_size()
    failures = []
    for body, expected in cases:
        response = _signed_raw(intake, body)
        try:
            _assert_error(response, 400, "invalid_event")
            assert expected in response.json()["message"], response.json()["message"]
        except (AssertionError, json.JSONDecodeError) as exc:
            failures.append(f"{expected}: {response.status_code} {response.text[:200]} ({exc})")
    assert not failures, "\n".join(failures)
    assert intake.inbox_size() == before
