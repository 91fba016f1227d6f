"""A small fake WordPress REST API for tests: real HTTP on 127.0.0.1, WordPress-shaped JSON.

It mimics what our clients depend on, as WordPress 6.x does it:

- `GET /wp-json/wp/v2/types` and collections `/wp-json/wp/v2/{posts,pages,media,<custom>}`
  (also reachable as `/?rest_route=/wp/v2/...`; with `pretty_permalinks=False`, `/wp-json/`
  answers an HTML 404 like a site without pretty permalinks);
- pagination: `per_page` (≤ 100), `page`, headers `X-WP-Total` / `X-WP-TotalPages`, and
  HTTP 400 `rest_post_invalid_page_number` for a page past the last;
- `include`, `modified_after`, `status` (anything but the public status needs HTTP Basic
  auth with the configured username + application password), `_fields`, `_embed`
  (author, wp:term), `orderby` (id, date, modified, include) and `order`;
- unauthenticated, password-protected content renders empty with `protected: true`, and
  attachments of a non-public parent are hidden (but still counted, as WordPress does);
- files of attachments under `/wp-content/uploads/<path>`;
- `fail_next(n, status=...)` makes the next n requests fail, `stall_next(n, seconds)` makes
  them slow (to provoke client timeouts); `requests` is a request log.

Usage::

    with FakeWordPress(custom_types={"book": "books"}) as wp:
        wp.upsert({"id": 1, "title": "Hello", "content": "<p>Hi</p>"})
        client = WordPressRestClient(wp.base_url)

Posts are given as plain dicts (see `upsert`); the server renders WordPress JSON from them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PUBLIC_STATUS = {"attachment": "inherit"}  # every other type: "publish"
MAX_PER_PAGE = 100
_BUILTIN_TYPES = {"post": "posts", "page": "pages", "attachment": "media"}
_TAXONOMY_FIELDS = {"category": "categories", "post_tag": "tags"}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it. `authorized` is None when no credentials were sent."""

    method: str
    path: str
    params: dict[str, str]
    authorized: bool | None
    status: int


class FakeWordPress:
    """A threaded fake WordPress; use as a context manager (starts and stops the server)."""

    def __init__(
        self,
        *,
        username: str = "editor",
        app_password: str = "abcd EFGH 1234 ijkl MNOP 5678",
        custom_types: dict[str, str] | None = None,
        pretty_permalinks: bool = True,
    ) -> None:
        """`custom_types` maps a post type slug to its REST base, e.g. {"book": "books"}."""
        self.username = username
        self.app_password = app_password
        self.pretty_permalinks = pretty_permalinks
        self.rest_bases = {**_BUILTIN_TYPES, **(custom_types or {})}
        self._posts: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._failures: list[tuple[int, str | None]] = []
        self._stalls: list[float] = []
        self._log: list[RecordedRequest] = []
        # Requests being answered: a handler records its request only after the response is
        # sent, so a client can see the answer before the log does.
        self._in_flight = 0
        self.most_in_flight = 0  # the most requests it was answering at once
        self._clock = datetime(2024, 1, 1, tzinfo=UTC)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> FakeWordPress:
        handler = type("Handler", (_Handler,), {"site": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeWordPress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` (no trailing slash); only valid while running."""
        if self._server is None:
            raise RuntimeError("FakeWordPress is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- content --------------------------------------------------------------------------

    def upsert(self, post: dict[str, Any]) -> dict[str, Any]:
        """Insert or update an object; returns the stored record (a copy).

        Keys (all optional; on update, missing keys keep their value): `id` (default: next),
        `type` ("post"), `status` ("publish", attachments "inherit"), `title`, `content`
        (HTML), `excerpt`, `author` (display name, "Admin"), `password` (non-empty →
        protected), `parent` (attachments: the post they belong to), `terms`
        ({taxonomy: [names]}), `date_gmt` / `modified_gmt` (datetime or ISO string; modified
        defaults to a clock that advances one second per write), `slug`, `meta` (post meta the
        REST API shows, e.g. `footnotes`), and for attachments
        `mime_type`, `file` (bytes served under /wp-content/uploads/), `file_path`
        ("2024/01/<slug>.bin"), `file_chunked` (send without Content-Length) and `source_url`
        (announce the file at another URL, e.g. off the site's origin).
        """
        with self._lock:
            self._clock += timedelta(seconds=1)
            post_id = int(post.get("id") or max(self._posts, default=0) + 1)
            record = dict(self._posts.get(post_id) or self._defaults(post_id, post))
            record.update(post)
            record["id"] = post_id
            if "modified_gmt" not in post:
                record["modified_gmt"] = self._clock
            record["modified_gmt"] = _as_datetime(record["modified_gmt"])
            record["date_gmt"] = _as_datetime(record.get("date_gmt"))
            self._posts[post_id] = record
            return dict(record)

    def delete(self, post_id: int) -> None:
        """Delete for good (like `force=true`); to trash: `upsert({"id": i, "status": "trash"})`."""
        with self._lock:
            self._posts.pop(post_id, None)

    def get(self, post_id: int) -> dict[str, Any] | None:
        with self._lock:
            record = self._posts.get(post_id)
            return dict(record) if record else None

    def media_url(self, post_id: int) -> str:
        """The public URL of an attachment's file."""
        record = self.get(post_id)
        if record is None:
            raise KeyError(post_id)
        return f"{self.base_url}/wp-content/uploads/{record['file_path']}"

    def fail_next(self, count: int, status: int = 500, retry_after: str | None = None) -> None:
        """Answer the next `count` requests with `status` (e.g. 429 with a Retry-After)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def stall_next(self, count: int, seconds: float) -> None:
        """Wait `seconds` before answering each of the next `count` requests (for timeouts)."""
        with self._lock:
            self._stalls.extend([seconds] * count)

    @property
    def requests(self) -> list[RecordedRequest]:
        """The request log, after waiting (up to 2 s) for answers still being recorded."""
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight == 0:
                    break
            time.sleep(0.01)
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def _defaults(self, post_id: int, post: dict[str, Any]) -> dict[str, Any]:
        post_type = post.get("type", "post")
        slug = post.get("slug") or f"{post_type}-{post_id}"
        return {
            "type": post_type,
            "status": PUBLIC_STATUS.get(post_type, "publish"),
            "title": f"{post_type.title()} {post_id}",
            "content": "",
            "excerpt": "",
            "author": "Admin",
            "password": "",
            "parent": 0,
            "terms": {},
            "date_gmt": self._clock,
            "slug": slug,
            "mime_type": "application/octet-stream",
            "file": None,
            "file_path": f"2024/01/{slug}.bin",
            "file_chunked": False,
        }

    # ---- request handling (called from handler threads) -----------------------------------

    def _take_stall(self) -> float:
        with self._lock:
            return self._stalls.pop(0) if self._stalls else 0.0

    def _take_failure(self) -> tuple[int, str | None] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _check_auth(self, header: str | None) -> bool | None:
        if not header:
            return None
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.username and password == self.app_password

    def _snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(p) for p in self._posts.values()]


class _Handler(BaseHTTPRequestHandler):
    site: FakeWordPress
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def handle(self) -> None:
        # The client may hang up mid-answer (e.g. when it stops reading at its size cap).
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()

    def do_GET(self) -> None:
        with self.site._lock:
            self.site._in_flight += 1
            self.site.most_in_flight = max(self.site.most_in_flight, self.site._in_flight)
        try:
            parts = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            authorized = self.site._check_auth(self.headers.get("Authorization"))
            status = self._respond(parts.path, dict(params), authorized)
            self.site._record(RecordedRequest("GET", parts.path, params, authorized, status))
        finally:
            with self.site._lock:
                self.site._in_flight -= 1

    def _respond(self, path: str, params: dict[str, str], authorized: bool | None) -> int:
        time.sleep(self.site._take_stall())
        failure = self.site._take_failure()
        if failure is not None:
            status, retry_after = failure
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            return self._send_json(status, _error("fake_failure", "Injected failure"), headers)
        if authorized is False:
            return self._send_json(
                401,
                _error(
                    "incorrect_password",
                    "The provided password is an invalid application password.",
                ),
            )
        if path.startswith("/wp-content/uploads/"):
            return self._send_file(path.removeprefix("/wp-content/uploads/"))
        route = None
        if path.startswith("/wp-json/") and self.site.pretty_permalinks:
            route = path.removeprefix("/wp-json")
        elif path == "/" and "rest_route" in params:
            route = params.pop("rest_route")
        if route is None:
            return self._send_html(404, "<html><body>Not Found</body></html>")
        return self._route(route.rstrip("/") or "/", params, bool(authorized))

    def _route(self, route: str, params: dict[str, str], authorized: bool) -> int:
        if route == "/":
            return self._send_json(200, {"name": "Fake", "namespaces": ["wp/v2"]})
        if route == "/wp/v2/types":
            return self._send_json(200, self._types())
        bases = {f"/wp/v2/{base}": slug for slug, base in self.site.rest_bases.items()}
        if route in bases:
            return self._collection(bases[route], params, authorized)
        head, _, tail = route.rpartition("/")
        if head in bases and tail.isdigit():
            return self._single(bases[head], int(tail), params, authorized)
        return self._send_json(404, _error("rest_no_route", "No route was found."))

    def _types(self) -> dict[str, Any]:
        return {
            slug: {"slug": slug, "name": slug.title(), "rest_base": base, "rest_namespace": "wp/v2"}
            for slug, base in self.site.rest_bases.items()
        }

    def _collection(self, post_type: str, params: dict[str, str], authorized: bool) -> int:
        public = PUBLIC_STATUS.get(post_type, "publish")
        statuses = set(_csv(params.get("status", public)))
        if "any" in statuses:
            statuses = {"publish", "future", "draft", "pending", "private", "inherit"}
        if statuses - {public} and not authorized:
            return self._send_json(401, _error("rest_forbidden_status", "Status is forbidden."))
        try:
            per_page = int(params.get("per_page", "10"))
            page = int(params.get("page", "1"))
            include = [int(i) for i in _csv(params.get("include", ""))]
            modified_after = _as_datetime(params.get("modified_after"))
        except ValueError:
            return self._send_json(400, _error("rest_invalid_param", "Invalid parameter(s)."))
        if not 1 <= per_page <= MAX_PER_PAGE or page < 1:
            return self._send_json(
                400, _error("rest_invalid_param", "Invalid parameter(s): per_page")
            )
        matches = [
            p
            for p in self.site._snapshot()
            if p["type"] == post_type
            and p["status"] in statuses
            and (not include or p["id"] in include)
            and (modified_after is None or p["modified_gmt"] > modified_after)
        ]
        matches = _ordered(matches, params, include)
        total = len(matches)
        total_pages = -(-total // per_page)
        if page > max(total_pages, 1):
            return self._send_json(
                400,
                _error(
                    "rest_post_invalid_page_number",
                    "The page number requested is larger than the number of pages available.",
                ),
            )
        window = matches[(page - 1) * per_page : page * per_page]
        visible = [p for p in window if authorized or self._readable(p)]
        body = [self._render(p, params, authorized) for p in visible]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(total_pages)}
        return self._send_json(200, body, headers)

    def _single(
        self, post_type: str, post_id: int, params: dict[str, str], authorized: bool
    ) -> int:
        post = self.site.get(post_id)
        if post is None or post["type"] != post_type:
            return self._send_json(404, _error("rest_post_invalid_id", "Invalid post ID."))
        public = PUBLIC_STATUS.get(post_type, "publish")
        if not authorized and (post["status"] != public or not self._readable(post)):
            return self._send_json(401, _error("rest_forbidden", "Sorry, you are not allowed."))
        return self._send_json(200, self._render(post, params, authorized))

    def _readable(self, post: dict[str, Any]) -> bool:
        """Unauthenticated: an attachment is readable only if its parent is public (or none)."""
        if post["type"] != "attachment" or not post.get("parent"):
            return True
        parent = self.site.get(int(post["parent"]))
        return parent is None or parent["status"] == "publish"

    def _render(
        self, post: dict[str, Any], params: dict[str, str], authorized: bool
    ) -> dict[str, Any]:
        base = self.site.base_url
        is_attachment = post["type"] == "attachment"
        protected = bool(post.get("password"))
        hidden = protected and not authorized
        body: dict[str, Any] = {
            "id": post["id"],
            "date_gmt": _iso(post["date_gmt"]),
            "modified_gmt": _iso(post["modified_gmt"]),
            "slug": post["slug"],
            "status": post["status"],
            "type": post["type"],
            "link": f"{base}/?p={post['id']}"
            if post["status"] != "publish" and not is_attachment
            else f"{base}/{post['slug']}/",
            "title": {"rendered": post["title"]},
            "author": _author_id(post["author"]),
        }
        if is_attachment:
            body |= {
                "description": {"rendered": post["content"]},
                "caption": {"rendered": post["excerpt"]},
                "media_type": "file",
                "mime_type": post["mime_type"],
                "source_url": post.get("source_url")
                or f"{base}/wp-content/uploads/{post['file_path']}",
                "post": post["parent"] or None,
            }
        else:
            body |= {
                "content": {"rendered": "" if hidden else post["content"], "protected": protected},
                "excerpt": {"rendered": "" if hidden else post["excerpt"], "protected": protected},
                "parent": post["parent"],
            }
            if post.get("meta") is not None:  # registered meta with show_in_rest (footnotes)
                body["meta"] = post["meta"]
            for taxonomy, names in post["terms"].items():
                body[_TAXONOMY_FIELDS.get(taxonomy, taxonomy)] = [
                    _term_id(taxonomy, n) for n in names
                ]
        if "_embed" in params:
            body["_embedded"] = self._embedded(post, _csv(params["_embed"]))
        if "_fields" in params:
            wanted = {f.split(".")[0] for f in _csv(params["_fields"])}
            body = {k: v for k, v in body.items() if k in wanted}
        return body

    def _embedded(self, post: dict[str, Any], rels: list[str]) -> dict[str, Any]:
        every = not rels or rels == [""] or rels == ["1"]
        embedded: dict[str, Any] = {}
        if every or "author" in rels:
            embedded["author"] = [{"id": _author_id(post["author"]), "name": post["author"]}]
        if (every or "wp:term" in rels) and post["terms"]:
            embedded["wp:term"] = [
                [{"id": _term_id(tax, n), "name": n, "taxonomy": tax} for n in names]
                for tax, names in post["terms"].items()
            ]
        return embedded

    def _send_file(self, relative: str) -> int:
        for post in self.site._snapshot():
            if (
                post["type"] == "attachment"
                and post["file_path"] == relative
                and post["file"] is not None
            ):
                if post.get("file_chunked"):
                    return self._send_chunked(bytes(post["file"]), post["mime_type"])
                return self._send(200, bytes(post["file"]), post["mime_type"])
        return self._send_html(404, "<html><body>Not Found</body></html>")

    def _send_chunked(self, data: bytes, content_type: str) -> int:
        """Send without Content-Length, so a client cannot know the size up front."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for start in range(0, len(data), 65536):
                chunk = data[start : start + 65536]
                self.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (e.g. at its size cap)
        return 200

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> int:
        data = json.dumps(body).encode()
        return self._send(status, data, "application/json; charset=UTF-8", headers)

    def _send_html(self, status: int, text: str) -> int:
        return self._send(status, text.encode(), "text/html; charset=UTF-8")

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> int:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return status


def _ordered(
    posts: list[dict[str, Any]], params: dict[str, str], include: list[int]
) -> list[dict[str, Any]]:
    orderby = params.get("orderby", "date")
    if orderby == "include" and include:
        position = {post_id: i for i, post_id in enumerate(include)}
        return sorted(posts, key=lambda p: position[p["id"]])
    key = {"id": "id", "modified": "modified_gmt"}.get(orderby, "date_gmt")
    descending = params.get("order", "desc") == "desc"
    return sorted(
        posts,
        key=lambda p: (p[key] or datetime.min.replace(tzinfo=UTC), p["id"]),
        reverse=descending,
    )


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "data": {"status": None}}


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") if value else None


def _author_id(name: str) -> int:
    return sum(name.encode()) % 1000 + 1


def _term_id(taxonomy: str, name: str) -> int:
    return sum(f"{taxonomy}:{name}".encode()) % 10000 + 1
