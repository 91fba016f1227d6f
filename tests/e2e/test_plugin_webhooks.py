"""The plugin inside a real WordPress: signed webhooks over HTTP, token route, settings screen.

WordPress runs for real (tests/support/wordpress.py); the backend side is a small recording
HTTP receiver on 127.0.0.1 that checks signatures with the independent stdlib implementation in
tests/vectors/make_vectors.py, so a bug shared by plugin and backend code cannot hide here.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pressrag.resources.webhooks import golden_pairs, parse_event
from tests.support.wordpress import WordPress
from tests.vectors.make_vectors import b64url, key_from_secret, secret_from_bytes, webhook_signature

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SITE = "e2e-site"
WEBHOOK_SECRET = secret_from_bytes(hashlib.sha256(b"e2e webhook").digest())
TOKEN_SECRET = secret_from_bytes(hashlib.sha256(b"e2e token").digest())
ADMIN_KEY = "e2e-admin-key"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    received_at: float

    @property
    def event(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """Records webhooks; answers each with the next planned (status, delay) or 202."""

    deliveries: list[Delivery] = field(default_factory=list)
    plan: list[tuple[int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def next_answer(self) -> tuple[int, float]:
        with self.lock:
            return self.plan.pop(0) if self.plan else (202, 0.0)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                matching = [d for d in self.deliveries if predicate(d.event)]
            if matching:
                return matching
            time.sleep(0.05)
        raise AssertionError(f"no matching webhook within {timeout} s: {self.deliveries!r}")


def make_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, delay = receiver.next_answer()
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.deliveries.append(Delivery(headers, body, time.time()))
            time.sleep(delay)
            self.reply(status, {"status": "stored"} if status < 300 else {"error": "planned"})

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self.reply(200, {"status": "ok"})
            elif self.headers.get("Authorization") != f"Bearer {ADMIN_KEY}":
                self.reply(401, {"error": "unauthorized", "message": "bad key"})
            else:
                self.reply(200, {"site": SITE, "documents": 3, "chunks": 9, "failures": 0})

        def reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the plugin gave up waiting (timeout test)

    return Handler


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def wordpress(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[WordPress]:
    with WordPress(tmp_path_factory.mktemp("plugin-webhooks") / "wp") as wp:
        wp.activate_plugin(REPO_ROOT / "wp-plugin", "pressrag.php")
        settings = {
            "backend_url": receiver.url,
            "site_id": SITE,
            "webhook_secret": WEBHOOK_SECRET,
            "token_secret": TOKEN_SECRET,
            "admin_api_key": ADMIN_KEY,
            "post_types": ["post", "page", "attachment"],
            "outbox_enabled": True,
        }
        encoded = php_literal(json.dumps(settings))
        wp.php(f"update_option('pressrag_settings', json_decode({encoded}, true));")
        yield wp


@pytest.fixture
def clean(wordpress: WordPress, receiver: Receiver) -> Receiver:
    wordpress.php("$wpdb->query('DELETE FROM ' . PressRAG_Outbox::table());")
    with receiver.lock:
        receiver.deliveries.clear()
        receiver.plan.clear()
    return receiver


def php_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def outbox_rows(wordpress: WordPress) -> list[dict[str, Any]]:
    out = wordpress.php(
        "echo wp_json_encode($wpdb->get_results("
        "'SELECT * FROM ' . PressRAG_Outbox::table() . ' ORDER BY id', ARRAY_A));"
    )
    return list(json.loads(out))


def assert_signed_per_contract(delivery: Delivery) -> None:
    headers = delivery.headers
    assert re.fullmatch(r"msg_[0-9a-f-]{36}", headers["webhook-id"])
    timestamp = int(headers["webhook-timestamp"])
    assert abs(timestamp - delivery.received_at) < 60
    expected = webhook_signature(
        WEBHOOK_SECRET, headers["webhook-id"], timestamp, delivery.body.decode()
    )
    assert headers["webhook-signature"].split(" ") == [expected]
    assert headers["x-pressrag-site"] == SITE
    assert headers["content-type"].startswith("application/json")
    event = delivery.event
    assert list(event) == ["type", "site", "occurred_at", "data"]
    assert event["site"] == SITE
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["occurred_at"])


def test_publishing_sends_one_signed_upsert_during_the_request(
    wordpress: WordPress, clean: Receiver
) -> None:
    created = wordpress.rest(
        "POST", "/wp/v2/posts", json={"title": "Hello", "content": "Body", "status": "publish"}
    )
    assert created.status_code == 201, created.text
    wp_id = created.json()["id"]
    deliveries = clean.wait_for(lambda e: e["data"].get("wp_id") == wp_id)
    time.sleep(0.5)  # anything duplicated would have arrived by now
    for_post = [d for d in clean.deliveries if d.event["data"].get("wp_id") == wp_id]
    assert len(for_post) == 1, [d.event for d in for_post]
    delivery = deliveries[0]
    assert_signed_per_contract(delivery)
    assert delivery.event["type"] == "document.upserted"
    assert delivery.event["data"]["post_type"] == "post"
    assert delivery.event["data"]["status"] == "publish"
    assert [row["status"] for row in outbox_rows(wordpress)] == ["delivered"]


def test_trash_sends_one_delete_and_no_upsert(wordpress: WordPress, clean: Receiver) -> None:
    created = wordpress.rest("POST", "/wp/v2/posts", json={"title": "Bye", "status": "publish"})
    wp_id = created.json()["id"]
    clean.wait_for(lambda e: e["data"].get("wp_id") == wp_id)
    with clean.lock:
        clean.deliveries.clear()
    trashed = wordpress.rest("DELETE", f"/wp/v2/posts/{wp_id}")
    assert trashed.status_code == 200, trashed.text
    clean.wait_for(lambda e: e["type"] == "document.deleted")
    time.sleep(0.5)
    events = [d.event for d in clean.deliveries]
    assert events == [
        {**events[0], "type": "document.deleted", "data": {"wp_id": wp_id, "post_type": "post"}}
    ]


def test_a_slow_backend_never_holds_a_save_much_over_a_second(
    wordpress: WordPress, clean: Receiver
) -> None:
    clean.plan.append((202, 4.0))
    started = time.monotonic()
    created = wordpress.rest("POST", "/wp/v2/posts", json={"title": "Slow", "status": "publish"})
    elapsed = time.monotonic() - started
    assert created.status_code == 201
    assert elapsed < 2.5, f"saving waited {elapsed:.1f} s on the webhook"
    [row] = outbox_rows(wordpress)
    assert row["status"] == "pending"
    assert row["attempts"] == "1"
    assert "transport" in row["last_error"]


def test_failed_delivery_is_retried_by_cron_with_the_same_id(
    wordpress: WordPress, clean: Receiver
) -> None:
    clean.plan.append((503, 0.0))
    created = wordpress.rest("POST", "/wp/v2/pages", json={"title": "Later", "status": "publish"})
    wp_id = created.json()["id"]
    first = clean.wait_for(lambda e: e["data"].get("wp_id") == wp_id)[0]
    [row] = outbox_rows(wordpress)
    assert (row["status"], row["attempts"]) == ("pending", "1")
    assert "HTTP 503" in row["last_error"]

    # The cron worker honours the backoff: nothing is due yet.
    wordpress.php("do_action('pressrag_deliver_outbox');")
    assert len(clean.deliveries) == 1
    wordpress.php(
        "$wpdb->query($wpdb->prepare('UPDATE ' . PressRAG_Outbox::table() . "
        "' SET next_attempt_at = %s', gmdate('Y-m-d H:i:s', time() - 1)));"
        "do_action('pressrag_deliver_outbox');"
    )
    deadline = time.monotonic() + 10
    while len(clean.deliveries) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(clean.deliveries) == 2
    second = clean.deliveries[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert second.body == first.body, "a retry sends the same body"
    assert_signed_per_contract(second)
    [row] = outbox_rows(wordpress)
    assert (row["status"], row["attempts"]) == ("delivered", "2")


def test_token_route_mints_a_contract_token(wordpress: WordPress) -> None:
    response = httpx.get(f"{wordpress.base_url}/wp-json/pressrag/v1/token", timeout=10)
    assert response.status_code == 200
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert body["site"] == SITE and body["expires_in"] == 300
    header_b64, claims_b64, signature = body["token"].split(".")
    mac = hmac.new(
        key_from_secret(TOKEN_SECRET), f"{header_b64}.{claims_b64}".encode(), hashlib.sha256
    )
    assert signature == b64url(mac.digest())
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    claims = json.loads(base64.urlsafe_b64decode(claims_b64 + "=" * (-len(claims_b64) % 4)))
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims["site"] == SITE
    assert claims["aud"] == "pressrag"
    assert claims["origin"] == wordpress.base_url
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert abs(claims["iat"] - time.time()) < 60
    assert TOKEN_SECRET not in response.text and WEBHOOK_SECRET not in response.text


@contextlib.contextmanager
def admin_client(wordpress: WordPress) -> Iterator[httpx.Client]:
    """An HTTP client logged in to wp-admin with the harness's admin account."""
    with httpx.Client(base_url=wordpress.base_url, follow_redirects=True, timeout=30) as client:
        client.get("/wp-login.php")  # sets the test cookie
        client.post(
            "/wp-login.php",
            data={"log": wordpress.admin_user, "pwd": wordpress.admin_password, "testcookie": "1"},
        )
        yield client


def hidden_input(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no hidden input {name}"
    return match.group(1)


def stored_settings(wordpress: WordPress) -> dict[str, Any]:
    return dict(json.loads(wordpress.php("echo wp_json_encode(get_option('pressrag_settings'));")))


def test_settings_form_never_shows_secrets_and_keeps_them_when_left_empty(
    wordpress: WordPress, receiver: Receiver
) -> None:
    with admin_client(wordpress) as client:
        page = client.get("/wp-admin/options-general.php?page=pressrag")
        assert page.status_code == 200
        assert 'name="pressrag_settings[backend_url]"' in page.text
        for secret in (WEBHOOK_SECRET, TOKEN_SECRET, ADMIN_KEY):
            assert secret not in page.text
        form = page.text[page.text.index('action="options.php"') :]
        saved = client.post(
            "/wp-admin/options.php",
            data={
                "option_page": "pressrag",
                "action": "update",
                "_wpnonce": hidden_input(form, "_wpnonce"),
                "_wp_http_referer": "/wp-admin/options-general.php?page=pressrag",
                "pressrag_settings[backend_url]": receiver.url + "/",
                "pressrag_settings[site_id]": SITE,
                "pressrag_settings[webhook_secret]": "",
                "pressrag_settings[token_secret]": "whsec_not-valid!",
                "pressrag_settings[admin_api_key]": "",
                "pressrag_settings[post_types][]": ["post", "page", "attachment"],
                "pressrag_settings[outbox_enabled]": "1",
                "pressrag_settings[chat_title]": "<b>Ask</b>",
                "pressrag_settings[chat_k]": "7",
                "pressrag_settings[golden_questions]": "Who wrote it? | /about/\nno URL here",
            },
        )
        assert saved.status_code == 200
        assert "It was not saved" in saved.text  # the invalid token secret is refused, visibly
        assert "Golden questions, line 2" in saved.text
    # The saved list reaches the backend as a signed event its own intake accepts.
    about = f"{wordpress.site_url}/about/"
    golden = receiver.wait_for(lambda e: e["type"] == "site.golden_questions")[-1]
    assert_signed_per_contract(golden)
    event = parse_event(golden.body)
    assert golden_pairs(event, wordpress.site_url) == [("Who wrote it?", about)]
    settings = stored_settings(wordpress)
    assert settings["golden_questions"] == [{"question": "Who wrote it?", "url": about}]
    assert settings["webhook_secret"] == WEBHOOK_SECRET
    assert settings["token_secret"] == TOKEN_SECRET
    assert settings["admin_api_key"] == ADMIN_KEY
    assert settings["backend_url"] == receiver.url
    assert settings["chat_title"] == "Ask"
    assert settings["chat_k"] == 7


def test_admin_actions_need_a_nonce_and_retry_failed_works(
    wordpress: WordPress, clean: Receiver
) -> None:
    clean.plan.append((400, 0.0))
    wordpress.rest("POST", "/wp/v2/posts", json={"title": "Rejected", "status": "publish"})
    assert [row["status"] for row in outbox_rows(wordpress)] == ["dead"]
    with admin_client(wordpress) as client:
        forged = client.post("/wp-admin/admin-post.php", data={"action": "pressrag_retry_failed"})
        assert forged.status_code in (403, 200) and "link you followed has expired" in forged.text
        assert [row["status"] for row in outbox_rows(wordpress)] == ["dead"]

        page = client.get("/wp-admin/options-general.php?page=pressrag").text
        assert "Dead (gave up)" in page and "HTTP 400" in page
        form = page[page.index('value="pressrag_retry_failed"') :]
        done = client.post(
            "/wp-admin/admin-post.php",
            data={"action": "pressrag_retry_failed", "_wpnonce": hidden_input(form, "_wpnonce")},
        )
        assert "1 event sent." in done.text, "sent at once, not a minute later by cron"
    [row] = outbox_rows(wordpress)
    assert (row["status"], row["attempts"]) == ("delivered", "1")


def test_backend_verifier_accepts_the_plugin_token(wordpress: WordPress) -> None:
    """Cross-check with the real backend code, not just the stdlib reimplementation."""
    from pressrag.serving.auth import verify_token

    response = httpx.get(f"{wordpress.base_url}/wp-json/pressrag/v1/token", timeout=10)
    claims = verify_token(response.json()["token"], (key_from_secret(TOKEN_SECRET),))
    assert claims["site"] == SITE
    assert claims["origin"] == wordpress.base_url
