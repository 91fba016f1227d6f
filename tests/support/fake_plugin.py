"""FakeWordPress plus the PressRAG plugin's callback route (`?rest_route=/pressrag/v1/callback`).

It keeps the contract of docs/contracts.md the way the PHP plugin does (which PHPUnit and the
end-to-end tier test for real): the signature over the raw body with the key derived from the
webhook secret, a five-minute window, ids never accepted twice (401), summaries stored per
(post, content hash, generated_at) — `stored`, `unchanged`, `stale`, or `skipped` when the
post is not public or gone — and drafts created once per request id.

`plugin_active = False` makes it a WordPress without the plugin (404 `rest_no_route`, as
WordPress answers a route nobody registered); `fail_callbacks(n, status)` answers the next n
callbacks with `status` (nothing stored);
`callbacks` logs every callback's type and HTTP status; `writes` lists every summary actually
written, so "lands once" can be counted.
"""

from __future__ import annotations

import contextlib
import json
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pressrag.resources.webhooks import WebhookError
from pressrag.resources.writeback.signing import verify_callback
from tests.support.fake_wordpress import FakeWordPress, _Handler

ROUTE = "/pressrag/v1/callback"


class FakeWordPressWithPlugin(FakeWordPress):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_secret = ""  # set once the site is registered
        self.plugin_active = True
        self.summaries: dict[int, dict[str, Any]] = {}
        self.writes: list[tuple[int, str, str]] = []
        self.drafts: dict[str, dict[str, Any]] = {}
        self.progress: list[dict[str, Any]] = []
        self.callbacks: list[tuple[str, int]] = []
        self._callback_failures: list[int] = []
        self._seen_ids: set[str] = set()

    def start(self) -> FakeWordPressWithPlugin:
        handler = type("Handler", (_PluginHandler,), {"site": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def fail_callbacks(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._callback_failures.extend([status] * count)

    def callback_types(self) -> list[str]:
        with self._lock:
            return [kind for kind, _ in self.callbacks]

    # ---- the plugin's rules -------------------------------------------------------------

    def handle_callback(self, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        with self._lock:
            failure = self._callback_failures.pop(0) if self._callback_failures else None
        if failure is not None:
            return failure, {"code": "fake_failure", "message": "Injected failure"}
        try:
            msg_id = verify_callback(self.webhook_secret, headers, body)
        except WebhookError as exc:
            return 401, {"code": f"pressrag_{exc.code}", "message": exc.message}
        with self._lock:
            if msg_id in self._seen_ids:
                return 401, {"code": "pressrag_replayed", "message": "Already received."}
            self._seen_ids.add(msg_id)
        message = json.loads(body)
        kind = message.get("type")
        if kind == "summaries.deliver":
            return 200, {"results": [self._store_summary(i) for i in message["items"]]}
        if kind == "draft.progress":
            with self._lock:
                self.progress.append(message)
            return 200, {"status": "recorded"}
        if kind == "draft.create":
            return 200, self._create_draft(message)
        return 400, {"code": "pressrag_unknown_type", "message": "Unknown callback type."}

    def _is_public(self, post: dict[str, Any]) -> bool:
        if post.get("password"):
            return False
        if post["type"] == "attachment":
            parent = self.get(int(post["parent"])) if post.get("parent") else None
            return post["status"] == "inherit" and (parent is None or self._is_public(parent))
        return post["status"] == "publish"

    def _store_summary(self, item: dict[str, Any]) -> dict[str, Any]:
        wp_id = item["wp_id"]
        post = self.get(wp_id)
        if post is None:
            return {"wp_id": wp_id, "status": "skipped", "reason": "not_found"}
        if not self._is_public(post):
            return {"wp_id": wp_id, "status": "skipped", "reason": "not_public"}
        with self._lock:
            stored = self.summaries.get(wp_id)
            if stored and (stored["content_hash"], stored["generated_at"]) == (
                item["content_hash"],
                item["generated_at"],
            ):
                return {"wp_id": wp_id, "status": "unchanged"}
            if stored and stored["generated_at"] > item["generated_at"]:
                return {"wp_id": wp_id, "status": "stale"}
            self.summaries[wp_id] = dict(item)
            self.writes.append((wp_id, item["content_hash"], item["generated_at"]))
        return {"wp_id": wp_id, "status": "stored"}

    def _create_draft(self, message: dict[str, Any]) -> dict[str, Any]:
        request_id = message["request_id"]
        with self._lock:
            if request_id in self.drafts:
                return {"post_id": self.drafts[request_id]["post_id"], "status": "exists"}
            post_id = 100_000 + len(self.drafts)
            self.drafts[request_id] = {"post_id": post_id, **message["draft"]}
        return {"post_id": post_id, "status": "created", "edit_url": f"/?p={post_id}"}


class _PluginHandler(_Handler):
    site: FakeWordPressWithPlugin

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        route = parse_qs(parts.query).get("rest_route", [""])[-1]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if route != ROUTE or not self.site.plugin_active:
            status, answer = 404, {"code": "rest_no_route", "message": "No route was found."}
        else:
            status, answer = self.site.handle_callback(dict(self.headers), body)
        kind = ""
        with contextlib.suppress(ValueError):
            kind = str(json.loads(body).get("type", ""))
        with self.site._lock:
            self.site.callbacks.append((kind, status))
        self._send_json(status, answer)
