"""Read a WordPress site through its REST API (`/wp-json/wp/v2/...`).

Only what the API hands out is seen: unauthenticated that is what the public sees; with an
application password every status is requested, so non-public objects are seen and can be
recorded as excluded instead of silently missing.
"""

from __future__ import annotations

import email.utils
import html
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx

from pressrag.resources.errors import ConfigError, SourceError
from pressrag.resources.models import ATTACHMENT_TYPE, SourceDocument
from pressrag.resources.wordpress._common import (
    IGNORED_TAXONOMIES,
    origin_of,
    parse_wp_gmt,
    with_footnotes,
)

log = logging.getLogger(__name__)

PER_PAGE = 100  # the REST API's maximum
# Every status an editor can list; `any` would leave out trash, which we must see to unindex.
ALL_POST_STATUSES = "publish,future,draft,pending,private,trash"
ALL_MEDIA_STATUSES = "inherit,private,trash"
BUILTIN_REST_BASES = {"post": "posts", "page": "pages", ATTACHMENT_TYPE: "media"}
DEFAULT_USER_AGENT = "PressRAG/0.1 (+https://github.com/pressrag)"
MAX_RETRY_AFTER = 60.0
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
_T = TypeVar("_T")


class _RetryableAnswer(Exception):
    """A 429/5xx answer, raised so the retry loop treats it like a network error."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def redact_url(url: str | httpx.URL) -> str:
    """The URL without any user:password part, fit for messages and logs."""
    return str(httpx.URL(url).copy_with(username=None, password=None))


class WordPressRestClient:
    """Synchronous REST client for one site; see the module docstring for what it sees."""

    # Media files downloaded at once (`open_media` from threads share the connection pool):
    # few enough for a small host, and each is held in memory until it is parsed.
    parallel_downloads = 4

    def __init__(
        self,
        base_url: str,
        *,
        post_types: Iterable[str] = ("post", "page"),
        username: str | None = None,
        app_password: str | None = None,
        timeout: float = 20.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_retry_after: float = MAX_RETRY_AFTER,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
    ) -> None:
        if bool(username) != bool(app_password):
            raise ConfigError("WordPress username and application password must be given together")
        if httpx.URL(base_url).userinfo:
            raise ConfigError(
                f"the WordPress URL {redact_url(base_url)} contains credentials; "
                "give them as username and app_password instead"
            )
        self.base_url = base_url.rstrip("/")
        self.post_types = tuple(post_types)
        self.authenticated = bool(username and app_password)
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self._origin = origin_of(self.base_url)
        self._use_rest_route: bool | None = None  # None until the first API answer decides
        self._rest_routes: dict[str, str] | None = None  # post type -> "namespace/rest_base"
        self._client = httpx.Client(
            auth=httpx.BasicAuth(username, app_password) if username and app_password else None,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WordPressRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- public interface -------------------------------------------------------------

    def iter_documents(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        """Every object of the configured post types (attachments excluded; see iter_media)."""
        for post_type in self.post_types:
            if post_type == ATTACHMENT_TYPE:
                continue
            yield from self._iter_type(post_type, modified_after)

    def iter_media(self, modified_after: datetime | None = None) -> Iterator[SourceDocument]:
        yield from self._iter_type(ATTACHMENT_TYPE, modified_after)

    def fetch(
        self, post_type: str | None, wp_ids: Iterable[int]
    ) -> dict[int, SourceDocument | None]:
        """Fetch the given ids; an id no endpoint returns maps to None (gone or not visible)."""
        wanted = list(dict.fromkeys(int(i) for i in wp_ids))
        found: dict[int, SourceDocument | None] = dict.fromkeys(wanted)
        types = [post_type] if post_type else [*self._document_types(), ATTACHMENT_TYPE]
        for current_type in types:
            missing = [i for i in wanted if found[i] is None]
            for start in range(0, len(missing), PER_PAGE):
                batch = missing[start : start + PER_PAGE]
                params = {"include": ",".join(map(str, batch)), "orderby": "include"}
                for item in self._iter_collection(current_type, params):
                    doc = self._document_from_item(item, current_type)
                    if doc.wp_id in found:
                        found[doc.wp_id] = doc
        return found

    def list_versions(self) -> Iterator[tuple[int, str, datetime | None]]:
        """(wp_id, type, modified_gmt) of everything visible — cheap input for a reconcile."""
        for post_type in [*self._document_types(), ATTACHMENT_TYPE]:
            params = {"_fields": "id,type,modified_gmt"}
            for item in self._iter_collection(post_type, params, embed=False):
                wp_id = self._item_id(item, post_type)
                doc_type = str(item.get("type") or post_type)
                yield wp_id, doc_type, parse_wp_gmt(item.get("modified_gmt"))

    def open_media(self, url: str, max_bytes: int) -> bytes:
        """Download a file from the site's own origin, never reading more than `max_bytes`."""
        safe_url = redact_url(url)
        if origin_of(str(url)) != self._origin:
            raise SourceError(
                f"refusing to download {safe_url}: it is not on the site's origin {self.base_url}"
            )
        return self._with_retries(safe_url, lambda: self._download(url, max_bytes))

    # ---- documents ----------------------------------------------------------------------

    def _document_types(self) -> list[str]:
        return [t for t in self.post_types if t != ATTACHMENT_TYPE]

    def _iter_type(
        self, post_type: str, modified_after: datetime | None
    ) -> Iterator[SourceDocument]:
        params: dict[str, str] = {"orderby": "id", "order": "asc"}
        if modified_after is not None:
            aware = modified_after if modified_after.tzinfo else modified_after.replace(tzinfo=UTC)
            params["modified_after"] = aware.astimezone(UTC).isoformat()
        for item in self._iter_collection(post_type, params):
            yield self._document_from_item(item, post_type)

    def _document_from_item(self, item: dict[str, Any], post_type: str) -> SourceDocument:
        wp_id = self._item_id(item, post_type)
        doc_type = str(item.get("type") or post_type)
        is_attachment = doc_type == ATTACHMENT_TYPE
        content = _as_dict(item.get("description" if is_attachment else "content"))
        excerpt = _as_dict(item.get("caption" if is_attachment else "excerpt"))
        parent = item.get("post" if is_attachment else "parent")
        return SourceDocument(
            wp_id=wp_id,
            type=doc_type,
            status=str(item.get("status") or ("inherit" if is_attachment else "publish")),
            title=html.unescape(_rendered(item.get("title"))),
            url=str(item.get("link") or ""),
            # The block editor's footnotes: from `meta.footnotes` when the site exposes it,
            # else as WordPress rendered them into the content.
            content_html=with_footnotes(
                _rendered(content), _as_dict(item.get("meta")).get("footnotes")
            ),
            excerpt=_rendered(excerpt),
            author=_embedded_author(item),
            modified_gmt=parse_wp_gmt(item.get("modified_gmt")),
            published_gmt=parse_wp_gmt(item.get("date_gmt")),
            password_protected=bool(content.get("protected") or excerpt.get("protected")),
            terms=_embedded_terms(item),
            language=item.get("lang") if isinstance(item.get("lang"), str) else None,
            parent_id=parent if isinstance(parent, int) and parent > 0 else None,
            mime_type=item.get("mime_type") if is_attachment else None,
            media_url=item.get("source_url") if is_attachment else None,
        )

    def _item_id(self, item: object, post_type: str) -> int:
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            raise SourceError(
                f"unexpected response from {self.base_url} for post type {post_type!r}: "
                f"an item without an integer 'id' ({str(item)[:120]!r})"
            )
        return item["id"]

    # ---- collections and routes ---------------------------------------------------------

    def _iter_collection(
        self, post_type: str, params: dict[str, str], *, embed: bool = True
    ) -> Iterator[dict[str, Any]]:
        """All items of a collection, page by page, until the last page."""
        route = self._route_for(post_type)
        query = dict(params)
        if embed:
            query["_embed"] = "author,wp:term"
        if self.authenticated:
            query["status"] = (
                ALL_MEDIA_STATUSES if post_type == ATTACHMENT_TYPE else ALL_POST_STATUSES
            )
        page = 1
        while True:
            answer = self._get_json(route, {**query, "per_page": str(PER_PAGE), "page": str(page)})
            if answer is None:  # 400 rest_post_invalid_page_number: past the last page
                return
            data, headers = answer
            if not isinstance(data, list):
                raise SourceError(
                    f"unexpected response from {self._url_for(route)}: expected a JSON list, "
                    f"got {type(data).__name__}"
                )
            yield from data
            total_pages = _int_header(headers, "X-WP-TotalPages")
            if not data or (total_pages is not None and page >= total_pages):
                return
            if total_pages is None and len(data) < PER_PAGE:
                return
            page += 1

    def _route_for(self, post_type: str) -> str:
        if post_type in BUILTIN_REST_BASES:
            return f"wp/v2/{BUILTIN_REST_BASES[post_type]}"
        if self._rest_routes is None:
            self._rest_routes = self._load_rest_routes()
        if post_type not in self._rest_routes:
            raise SourceError(
                f"post type {post_type!r} is not in the REST API of {self.base_url} "
                f"(known: {', '.join(sorted(self._rest_routes)) or 'none'}); it must be "
                "registered with show_in_rest"
            )
        return self._rest_routes[post_type]

    def _load_rest_routes(self) -> dict[str, str]:
        answer = self._get_json("wp/v2/types", {})
        data = answer[0] if answer else None
        if not isinstance(data, dict):
            raise SourceError(
                f"unexpected response from {self._url_for('wp/v2/types')}: expected a JSON object"
            )
        routes: dict[str, str] = {}
        for slug, info in data.items():
            if isinstance(info, dict) and isinstance(info.get("rest_base"), str):
                namespace = info.get("rest_namespace") or "wp/v2"
                routes[slug] = f"{namespace}/{info['rest_base']}"
        return routes

    def _url_for(self, route: str) -> str:
        if self._use_rest_route:
            return f"{self.base_url}/?rest_route=/{route}"
        return f"{self.base_url}/wp-json/{route}"

    # ---- HTTP -----------------------------------------------------------------------------

    def _get_json(self, route: str, params: dict[str, str]) -> tuple[Any, httpx.Headers] | None:
        """GET a REST route; None means "page past the last" (HTTP 400 invalid page number)."""
        response = self._get_api(route, params)
        if response.status_code == 404 and self._use_rest_route is None and not _is_json(response):
            # Pretty permalinks are off: /wp-json/ is an HTML 404, ?rest_route= works.
            self._use_rest_route = True
            log.info("%s has no /wp-json/ path; using ?rest_route=", self.base_url)
            response = self._get_api(route, params)
            if response.status_code == 404 and not _is_json(response):
                self._use_rest_route = None
                raise SourceError(
                    f"no WordPress REST API at {self.base_url}: both /wp-json/ and "
                    "?rest_route= answered HTTP 404"
                )
        url = self._url_for(route)
        if response.status_code < 400 and self._use_rest_route is None:
            self._use_rest_route = False
        body = _json_or_none(response)
        if response.status_code == 400 and _error_code(body) == "rest_post_invalid_page_number":
            return None
        if response.status_code in (401, 403):
            raise SourceError(
                f"{url} refused access (HTTP {response.status_code} "
                f"{_error_code(body) or response.reason_phrase}): "
                "check the WordPress username and application password"
            )
        if response.status_code >= 400:
            detail = _error_code(body) or response.reason_phrase
            raise SourceError(f"{url} answered HTTP {response.status_code} ({detail})")
        if body is None:
            kind = response.headers.get("content-type", "no content type")
            raise SourceError(
                f"{url} did not answer with JSON ({kind}); is the WordPress REST API reachable?"
            )
        return body, response.headers

    def _get_api(self, route: str, params: dict[str, str]) -> httpx.Response:
        if self._use_rest_route:
            url, query = f"{self.base_url}/", {"rest_route": f"/{route}", **params}
        else:
            url, query = f"{self.base_url}/wp-json/{route}", params
        display = self._url_for(route)
        return self._with_retries(display, lambda: self._client.get(url, params=query))

    def _download(self, url: str, max_bytes: int) -> bytes:
        with self._client.stream("GET", url) as response:
            if response.status_code in _RETRYABLE_STATUS:
                raise _RetryableAnswer(response)
            if response.status_code >= 300:
                raise SourceError(f"cannot download {redact_url(url)}: HTTP {response.status_code}")
            declared = _int_header(response.headers, "Content-Length")
            if declared is not None and declared > max_bytes:
                raise SourceError(f"{redact_url(url)}: file exceeds {max_bytes} bytes")
            received = bytearray()
            for chunk in response.iter_bytes():
                received.extend(chunk)
                if len(received) > max_bytes:
                    raise SourceError(f"{redact_url(url)}: file exceeds {max_bytes} bytes")
            return bytes(received)

    def _with_retries(self, display_url: str, send: Callable[[], _T]) -> _T:
        """Call `send` until it answers anything but 429, 5xx or a network error."""
        cause = "no attempt made"
        attempts = self.max_retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                result = send()
                if isinstance(result, httpx.Response) and result.status_code in _RETRYABLE_STATUS:
                    raise _RetryableAnswer(result)
                return result
            except _RetryableAnswer as exc:
                answer = exc.response
                cause = f"HTTP {answer.status_code} {answer.reason_phrase}".strip()
                retry_after = _retry_after_seconds(answer.headers.get("Retry-After"))
            except httpx.TimeoutException as exc:
                cause = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                cause = _describe_transport_error(exc)
            if attempt + 1 < attempts:
                delay = self._delay(attempt, retry_after)
                log.warning("%s: %s; retry %d in %.1fs", display_url, cause, attempt + 1, delay)
                time.sleep(delay)
        raise SourceError(
            f"cannot reach {display_url}: {cause} (gave up after {attempts} attempts)"
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # Exponential with jitter so many clients do not retry in step.
        return min(self.backoff * 2**attempt * random.uniform(0.5, 1.5), self.max_retry_after)


# ---- helpers ------------------------------------------------------------------------------


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rendered(value: object) -> str:
    if isinstance(value, dict):
        value = value.get("rendered", "")
    return value if isinstance(value, str) else ""


def _embedded_author(item: dict[str, Any]) -> str:
    authors = _as_dict(item.get("_embedded")).get("author")
    if isinstance(authors, list):
        for author in authors:
            # An embed the caller may not see comes back as an error object with a `code`.
            if isinstance(author, dict) and isinstance(author.get("name"), str):
                return author["name"]
    return ""


def _embedded_terms(item: dict[str, Any]) -> dict[str, list[str]]:
    terms: dict[str, list[str]] = {}
    groups = _as_dict(item.get("_embedded")).get("wp:term")
    for group in groups if isinstance(groups, list) else []:
        for term in group if isinstance(group, list) else []:
            if not isinstance(term, dict):
                continue
            taxonomy, name = term.get("taxonomy"), term.get("name")
            if (
                isinstance(taxonomy, str)
                and isinstance(name, str)
                and taxonomy not in IGNORED_TAXONOMIES
            ):
                terms.setdefault(taxonomy, []).append(html.unescape(name))
    return terms


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_code(body: Any) -> str | None:
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe_transport_error(exc: httpx.TransportError) -> str:
    text = str(exc).strip()
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "host name not found"
    return text or type(exc).__name__
