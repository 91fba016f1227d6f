"""The [ai_chat] box works in a real browser: token from WordPress, streamed answer from a
backend over CORS, hostile text rendered inert, [n] linked to http(s) sources only, the
follow-up carries the first turn, keyboard Enter, phone-sized layout.

WordPress and Chromium are real; the backend is a scripted HTTP server on 127.0.0.1 that
verifies the browser token with the stdlib implementation of the contract and streams SSE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.wordpress import WordPress
from tests.vectors.make_vectors import b64url, key_from_secret, secret_from_bytes

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DRIVER = REPO_ROOT / "wp-plugin" / "tests" / "browser" / "drive_chat.mjs"
SITE = "browser-site"
TOKEN_SECRET = secret_from_bytes(hashlib.sha256(b"browser token").digest())
HOSTILE = 'See <img src=x onerror="window.__pwned=true"> and <b>this</b> [1]. '
CITATIONS = [
    {"n": 1, "title": "Guide <i>one</i>", "url": "https://example.org/guide/", "heading": "Intro"},
    {"n": 2, "title": "Trap", "url": "javascript:window.__pwned=true", "heading": ""},
]


def claims_if_valid(token: str) -> dict[str, Any] | None:
    """Claims of a correctly signed, unexpired token for SITE, else None."""
    try:
        header, claims, signature = token.split(".")
    except ValueError:
        return None
    mac = hmac.new(key_from_secret(TOKEN_SECRET), f"{header}.{claims}".encode(), hashlib.sha256)
    if not hmac.compare_digest(b64url(mac.digest()), signature):
        return None
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    return decoded if decoded.get("site") == SITE and decoded.get("aud") == "pressrag" else None


class ScriptedBackend:
    """POST /v1/ask with CORS for one origin; answers 429 when the question says 'busy'."""

    def __init__(self, allowed_origin: str) -> None:
        self.allowed_origin = allowed_origin
        self.asks: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def cors(self) -> None:
                if self.headers.get("Origin") == backend.allowed_origin:
                    self.send_header("Access-Control-Allow-Origin", backend.allowed_origin)
                    self.send_header("Access-Control-Allow-Headers", "authorization, content-type")
                    self.send_header("Access-Control-Allow-Methods", "POST")

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                self.cors()
                self.end_headers()

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                claims = claims_if_valid(token)
                backend.asks.append(
                    {"body": body, "claims": claims, "origin": self.headers.get("Origin")}
                )
                if claims is None or claims["origin"] != self.headers.get("Origin"):
                    return self.json(401, {"error": "invalid_token", "message": "no"})
                if "busy" in body["question"]:
                    return self.json(429, {"error": "rate_limited", "message": "slow down"})
                self.send_response(200)
                self.cors()
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for name, data in (
                    ("delta", {"text": HOSTILE[:20]}),
                    ("delta", {"text": HOSTILE[20:]}),
                    ("citations", {"citations": CITATIONS}),
                    ("done", {"mode": "extractive", "timings": {}}),
                ):
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                    self.wfile.flush()

            def json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.cors()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@pytest.fixture
def wordpress(tmp_path: Path) -> Iterator[WordPress]:
    with WordPress(tmp_path / "wp") as wp:
        wp.activate_plugin(REPO_ROOT / "wp-plugin", "pressrag.php")
        yield wp


@pytest.fixture
def backend(wordpress: WordPress) -> Iterator[ScriptedBackend]:
    scripted = ScriptedBackend(allowed_origin=wordpress.base_url)
    thread = threading.Thread(target=scripted.server.serve_forever, daemon=True)
    thread.start()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


def test_chat_in_a_real_browser(wordpress: WordPress, backend: ScriptedBackend) -> None:
    node, chromium = shutil.which("node"), shutil.which("chromium")
    assert node and chromium, "node and chromium are required for the browser test"
    settings = {
        "backend_url": backend.url,
        "site_id": SITE,
        "token_secret": TOKEN_SECRET,
        "post_types": ["post", "page"],
        "outbox_enabled": False,
    }
    encoded = json.dumps(settings).replace("\\", "\\\\").replace("'", "\\'")
    wordpress.php(f"update_option('pressrag_settings', json_decode('{encoded}', true));")
    page = wordpress.rest(
        "POST",
        "/wp/v2/pages",
        json={"title": "Ask", "content": '[ai_chat title="Ask us" k="4"]', "status": "publish"},
    )
    assert page.status_code == 201, page.text

    done = subprocess.run(
        [
            node,
            "--experimental-websocket",
            "--no-warnings",
            str(DRIVER),
            page.json()["link"],
            "What is here?",
            "busy now?",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "CHROMIUM": chromium, "HOME": "/tmp"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    answered, limited = result["answers"]

    first_answer = 'See <img src=x onerror="window.__pwned=true"> and <b>this</b> .'
    assert [ask["body"] for ask in backend.asks] == [
        {"site": SITE, "question": "What is here?", "k": 4},
        {
            "site": SITE,
            "question": "busy now?",
            "k": 4,
            "history": [{"question": "What is here?", "answer": first_answer}],
        },
    ]
    assert all(ask["origin"] == wordpress.base_url for ask in backend.asks)
    assert backend.asks[0]["claims"]["origin"] == wordpress.base_url

    assert HOSTILE.strip() in answered["text"], "server text is shown verbatim"
    assert answered["images"] == 0 and not answered["error"]
    assert answered["cites"] == [{"href": "https://example.org/guide/", "text": "[1]"}]
    assert answered["sources"] == [
        {"href": "https://example.org/guide/", "text": "Guide <i>one</i>"}
    ]
    assert len(answered["links"]) == 2, "no link for the javascript: source"
    assert "[2] Trap" in answered["text"]
    assert answered["focusOnInput"]

    assert limited["error"]
    assert "Too many questions" in limited["text"]

    assert result["page"]["pwned"] is False
    assert result["page"]["overflow"] <= 0, "the page scrolls sideways on a phone"
    assert result["page"]["inputWidth"] >= 150
    assert result["page"]["fontSize"] >= 16
    assert result["consoleErrors"] == []
