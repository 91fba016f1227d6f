"""WordPressRestClient against a real HTTP server that answers like WordPress (FakeWordPress)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pressrag.resources.errors import ConfigError, SourceError
from pressrag.resources.wordpress import ContentSource, WordPressRestClient
from tests.support.fake_wordpress import FakeWordPress


@pytest.fixture
def wp() -> Iterator[FakeWordPress]:
    with FakeWordPress(custom_types={"book": "books"}) as server:
        yield server


def client_for(wp: FakeWordPress, *, auth: bool = False, **kwargs: object) -> WordPressRestClient:
    options: dict[str, object] = {"max_retries": 3, "backoff": 0.01, **kwargs}
    if auth:
        options |= {"username": wp.username, "app_password": wp.app_password}
    return WordPressRestClient(wp.base_url, **options)  # type: ignore[arg-type]


def api_requests(wp: FakeWordPress, suffix: str) -> list:
    return [r for r in wp.requests if r.path.endswith(suffix)]


def test_client_satisfies_the_content_source_protocol(wp: FakeWordPress) -> None:
    assert isinstance(client_for(wp), ContentSource)


def test_paginates_to_the_last_page(wp: FakeWordPress) -> None:
    for i in range(1, 251):
        wp.upsert({"id": i, "title": f"Post {i}"})

    docs = list(client_for(wp).iter_documents())

    assert sorted(d.wp_id for d in docs) == list(range(1, 251))
    pages = [r.params["page"] for r in api_requests(wp, "/wp/v2/posts")]
    assert pages == ["1", "2", "3"]
    assert all(r.params["per_page"] == "100" for r in api_requests(wp, "/wp/v2/posts"))


def test_page_past_the_last_ends_the_listing(wp: FakeWordPress) -> None:
    """Posts deleted mid-listing make the next page invalid: WordPress answers 400 there."""
    for i in range(1, 251):
        wp.upsert({"id": i})
    documents = client_for(wp).iter_documents()
    first_page = [next(documents) for _ in range(100)]
    for i in range(101, 251):
        wp.delete(i)

    rest = list(documents)

    assert [d.wp_id for d in first_page] == list(range(1, 101))
    assert rest == []
    last = api_requests(wp, "/wp/v2/posts")[-1]
    assert (last.params["page"], last.status) == ("2", 400)


def test_maps_rest_fields_to_source_document(wp: FakeWordPress) -> None:
    wp.upsert(
        {
            "id": 7,
            "title": "Caf&eacute; &amp; more",
            "content": "<p>Hello [expanded]</p>",
            "excerpt": "<p>Short</p>",
            "author": "Jane Doe",
            "terms": {"category": ["News"], "post_tag": ["a", "b"], "genre": ["Sci-fi"]},
            "date_gmt": "2024-03-01T10:00:00",
            "modified_gmt": "2024-03-02T11:30:00",
        }
    )

    (doc,) = client_for(wp).iter_documents()

    assert doc.wp_id == 7 and doc.type == "post" and doc.status == "publish"
    assert doc.title == "Café & more"
    assert doc.content_html == "<p>Hello [expanded]</p>"
    assert doc.excerpt == "<p>Short</p>"
    assert doc.author == "Jane Doe"
    assert doc.terms == {"category": ["News"], "post_tag": ["a", "b"], "genre": ["Sci-fi"]}
    assert doc.published_gmt == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert doc.modified_gmt == datetime(2024, 3, 2, 11, 30, tzinfo=UTC)
    assert doc.url == f"{wp.base_url}/post-7/"
    assert not doc.password_protected


def test_custom_types_resolve_their_rest_base_once(wp: FakeWordPress) -> None:
    wp.upsert({"id": 1, "type": "book", "title": "Dune"})
    wp.upsert({"id": 2, "type": "page", "title": "About"})
    client = client_for(wp, post_types=("post", "page", "book"))

    first = {(d.wp_id, d.type) for d in client.iter_documents()}
    second = {(d.wp_id, d.type) for d in client.iter_documents()}

    assert first == second == {(1, "book"), (2, "page")}
    assert len(api_requests(wp, "/wp/v2/types")) == 1
    assert len(api_requests(wp, "/wp/v2/books")) == 2


def test_unknown_custom_type_is_a_clear_error(wp: FakeWordPress) -> None:
    with pytest.raises(
        SourceError, match=r"post type 'movie' is not in the REST API.*show_in_rest"
    ):
        list(client_for(wp, post_types=("movie",)).iter_documents())


def seed_statuses(wp: FakeWordPress) -> None:
    for wp_id, status in [
        (1, "publish"),
        (2, "draft"),
        (3, "private"),
        (4, "trash"),
        (5, "pending"),
    ]:
        wp.upsert({"id": wp_id, "status": status, "content": f"<p>{status}</p>"})


def test_unauthenticated_sees_only_public_documents(wp: FakeWordPress) -> None:
    seed_statuses(wp)

    docs = list(client_for(wp).iter_documents())

    assert [(d.wp_id, d.status) for d in docs] == [(1, "publish")]
    assert all("status" not in r.params and r.authorized is None for r in wp.requests)


def test_authenticated_sees_every_status_including_trash(wp: FakeWordPress) -> None:
    seed_statuses(wp)

    docs = list(client_for(wp, auth=True).iter_documents())

    assert {(d.wp_id, d.status) for d in docs} == {
        (1, "publish"),
        (2, "draft"),
        (3, "private"),
        (4, "trash"),
        (5, "pending"),
    }
    assert all(r.authorized for r in wp.requests)


def test_wrong_application_password_is_refused_without_leaking_it(wp: FakeWordPress) -> None:
    secret = "wrong pass word 1234"
    client = WordPressRestClient(wp.base_url, username=wp.username, app_password=secret)

    with pytest.raises(SourceError) as caught:
        list(client.iter_documents())

    message = str(caught.value)
    assert "HTTP 401" in message and "application password" in message
    assert secret not in message


def test_password_protected_content_is_flagged_and_withheld(wp: FakeWordPress) -> None:
    wp.upsert({"id": 1, "password": "hunter2", "content": "<p>secret</p>"})

    (public,) = client_for(wp).iter_documents()
    (editor,) = client_for(wp, auth=True).iter_documents()

    assert public.password_protected and public.content_html == ""
    assert editor.password_protected and editor.content_html == "<p>secret</p>"


def test_media_maps_attachment_fields(wp: FakeWordPress) -> None:
    wp.upsert({"id": 10, "title": "Parent"})
    wp.upsert(
        {
            "id": 11,
            "type": "attachment",
            "parent": 10,
            "title": "Manual",
            "mime_type": "application/pdf",
            "file": b"%PDF-1.4",
            "file_path": "2024/05/manual.pdf",
            "content": "<p>Description</p>",
        }
    )

    (media,) = client_for(wp).iter_media()

    assert media.is_attachment and media.status == "inherit"
    assert media.parent_id == 10
    assert media.mime_type == "application/pdf"
    assert media.media_url == f"{wp.base_url}/wp-content/uploads/2024/05/manual.pdf"
    assert media.content_html == "<p>Description</p>"
    assert [d.wp_id for d in client_for(wp).iter_documents()] == [10]  # media not among them


def test_media_of_a_draft_is_visible_only_with_auth(wp: FakeWordPress) -> None:
    wp.upsert({"id": 20, "status": "draft"})
    wp.upsert({"id": 21, "type": "attachment", "parent": 20})

    assert list(client_for(wp).iter_media()) == []
    assert [m.wp_id for m in client_for(wp, auth=True).iter_media()] == [21]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_transient_failures_then_succeeds(wp: FakeWordPress, status: int) -> None:
    """Rate limits and server errors are transient: the client must retry, not give up."""
    wp.upsert({"id": 1})
    wp.fail_next(2, status=status, retry_after="0" if status == 429 else None)

    docs = list(client_for(wp).iter_documents())

    assert [d.wp_id for d in docs] == [1]
    statuses = [r.status for r in api_requests(wp, "/wp/v2/posts")]
    assert statuses == [status, status, 200]


def test_honours_retry_after_but_caps_it(wp: FakeWordPress) -> None:
    wp.upsert({"id": 1})
    wp.fail_next(1, status=429, retry_after="1")
    started = time.monotonic()
    list(client_for(wp).iter_documents())
    honoured = time.monotonic() - started

    wp.fail_next(1, status=429, retry_after="3600")
    started = time.monotonic()
    list(client_for(wp, max_retry_after=0.2).iter_documents())
    capped = time.monotonic() - started

    assert honoured >= 0.95
    assert capped < 2


def test_gives_up_with_url_and_cause_but_no_credentials(
    wp: FakeWordPress, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wp.fail_next(10, status=503)
    client = client_for(wp, auth=True, max_retries=2)

    with pytest.raises(SourceError) as caught:
        list(client.iter_documents())

    message = str(caught.value)
    assert f"cannot reach {wp.base_url}/wp-json/wp/v2/posts" in message
    assert "HTTP 503" in message and "3 attempts" in message
    assert wp.app_password not in message
    assert len(wp.requests) == 3
    assert "retry" in caplog.text and wp.app_password not in caplog.text


def test_retries_a_timeout_then_succeeds(wp: FakeWordPress) -> None:
    wp.upsert({"id": 1})
    wp.stall_next(1, seconds=1.0)

    docs = list(client_for(wp, timeout=0.3).iter_documents())

    assert [d.wp_id for d in docs] == [1]


def test_gives_up_on_repeated_timeouts(wp: FakeWordPress) -> None:
    wp.stall_next(2, seconds=1.0)

    with pytest.raises(SourceError, match=r"cannot reach .*/wp/v2/posts: timed out"):
        list(client_for(wp, timeout=0.3, max_retries=1).iter_documents())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_site_is_a_clear_error() -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    client = WordPressRestClient(base, max_retries=1, backoff=0.01)

    with pytest.raises(SourceError, match=rf"cannot reach {base}/wp-json/.*connection refused"):
        list(client.iter_documents())


def test_credentials_in_the_base_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        WordPressRestClient("http://admin:s3cret@127.0.0.1:8080")

    assert "s3cret" not in str(caught.value) and "username and app_password" in str(caught.value)


def add_file(wp: FakeWordPress, wp_id: int, data: bytes, *, chunked: bool = False) -> str:
    wp.upsert({"id": wp_id, "type": "attachment", "file": data, "file_chunked": chunked})
    return wp.media_url(wp_id)


@pytest.mark.parametrize("chunked", [False, True])
def test_media_download_respects_the_size_cap(wp: FakeWordPress, chunked: bool) -> None:
    """With Content-Length the cap applies before reading; chunked, it applies while reading."""
    data = bytes(range(256)) * 4096  # 1 MiB
    url = add_file(wp, 30, data, chunked=chunked)
    client = client_for(wp)

    assert client.open_media(url, max_bytes=len(data)) == data
    with pytest.raises(SourceError, match=f"file exceeds {len(data) - 1} bytes"):
        client.open_media(url, max_bytes=len(data) - 1)


def test_media_download_retries_server_errors(wp: FakeWordPress) -> None:
    url = add_file(wp, 32, b"payload")
    wp.fail_next(2, status=502)

    assert client_for(wp).open_media(url, max_bytes=100) == b"payload"
    assert [r.status for r in wp.requests if r.path.startswith("/wp-content/")] == [502, 502, 200]


def test_media_download_refuses_other_origins(wp: FakeWordPress) -> None:
    url = add_file(wp, 31, b"data")
    client = client_for(wp)
    port = wp.base_url.rsplit(":", 1)[1]
    foreign = [
        url.replace("127.0.0.1", "localhost"),
        url.replace("http://", "https://"),
        url.replace(f":{port}/", f":{closed_port()}/"),
        "http://evil.example/wp-content/uploads/x.pdf",
    ]
    wp.clear_requests()

    for other in foreign:
        with pytest.raises(SourceError, match="not on the site's origin"):
            client.open_media(other, max_bytes=1000)

    assert wp.requests == []


def test_modified_after_pulls_only_later_changes(wp: FakeWordPress) -> None:
    for i in range(1, 6):
        wp.upsert({"id": i, "modified_gmt": datetime(2024, 1, i, tzinfo=UTC)})

    docs = list(client_for(wp).iter_documents(modified_after=datetime(2024, 1, 3, tzinfo=UTC)))

    assert [d.wp_id for d in docs] == [4, 5]
    assert api_requests(wp, "/wp/v2/posts")[0].params["modified_after"].startswith("2024-01-03T")


def test_targeted_fetch_finds_ids_across_types(wp: FakeWordPress) -> None:
    wp.upsert({"id": 1})
    wp.upsert({"id": 2, "type": "page"})
    wp.upsert({"id": 3, "type": "attachment"})
    wp.upsert({"id": 4, "status": "draft"})

    public = client_for(wp).fetch(None, [1, 2, 3, 4, 99])
    editor = client_for(wp, auth=True).fetch(None, [4, 99])

    assert {k: (v.type if v else None) for k, v in public.items()} == {
        1: "post",
        2: "page",
        3: "attachment",
        4: None,
        99: None,
    }
    assert editor[4] is not None and editor[4].status == "draft"
    assert editor[99] is None


def test_targeted_fetch_batches_include_by_100(wp: FakeWordPress) -> None:
    for i in range(1, 151):
        wp.upsert({"id": i})

    found = client_for(wp).fetch("post", range(1, 151))

    assert all(found[i] is not None for i in range(1, 151))
    includes = [r.params["include"].split(",") for r in api_requests(wp, "/wp/v2/posts")]
    assert [len(batch) for batch in includes] == [100, 50]


def test_list_versions_is_cheap_and_complete(wp: FakeWordPress) -> None:
    wp.upsert({"id": 1, "modified_gmt": "2024-02-01T00:00:00"})
    wp.upsert({"id": 2, "type": "page", "modified_gmt": "2024-02-02T00:00:00"})
    wp.upsert({"id": 3, "type": "attachment", "modified_gmt": "2024-02-03T00:00:00"})

    versions = sorted(client_for(wp).list_versions())

    assert versions == [
        (1, "post", datetime(2024, 2, 1, tzinfo=UTC)),
        (2, "page", datetime(2024, 2, 2, tzinfo=UTC)),
        (3, "attachment", datetime(2024, 2, 3, tzinfo=UTC)),
    ]
    assert all(r.params.get("_fields") == "id,type,modified_gmt" for r in wp.requests)


def test_falls_back_to_rest_route_without_pretty_permalinks() -> None:
    with FakeWordPress(pretty_permalinks=False) as wp:
        wp.upsert({"id": 1})
        client = client_for(wp)

        assert [d.wp_id for d in client.iter_documents()] == [1]
        assert [d.wp_id for d in client.iter_documents()] == [1]

        paths = [r.path for r in wp.requests]
        assert paths[0] == "/wp-json/wp/v2/posts"
        assert paths[1:] == ["/"] * (len(paths) - 1)
        assert wp.requests[1].params["rest_route"] == "/wp/v2/posts"


class _StaticHandler(BaseHTTPRequestHandler):
    body = b""
    content_type = "text/html"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html", b"<html>a parked domain</html>", "did not answer with JSON"),
        ("application/json", b'{"posts": []}', "expected a JSON list"),
        ("application/json", b'[{"title": "no id"}]', "without an integer 'id'"),
    ],
)
def test_non_wordpress_answers_are_clear_errors(
    content_type: str, body: bytes, expected: str
) -> None:
    """A site that is not WordPress (or a proxy in the way) must fail loudly, not yield nothing."""
    handler = type("Handler", (_StaticHandler,), {"body": body, "content_type": content_type})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        client = WordPressRestClient(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(SourceError, match=expected):
            list(client.iter_documents())
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_media_downloads_overlap_in_order_and_fail_alone(wp: FakeWordPress) -> None:
    """A live site's files download a few at a time while the one before is parsed, at most
    `parallel_downloads` at once; texts come back in the rows' order, and a file that cannot
    be downloaded fails only its own document."""
    from pressrag.assets.indexing.text import extracted
    from pressrag.resources.cpu_pool import Failed
    from pressrag.resources.extractors.bounded import BoundedExtractor, ExtractionLimits
    from pressrag.resources.extractors.media import kinds_of
    from pressrag.resources.settings import get_settings

    files = {n: f"wallaby survey sheet {n}".encode() for n in range(1, 7)}
    for n, data in files.items():
        wp.upsert({"id": n, "type": "attachment", "mime_type": "text/plain", "file": data})
    wp.upsert({"id": 7, "type": "attachment", "mime_type": "text/plain"})  # no file: 404
    wp.stall_next(7, 0.3)  # a slow host: every download takes 0.3 s
    client = client_for(wp)
    rows = [
        {
            "id": n,
            "wp_id": n,
            "doc_type": "attachment",
            "media_url": wp.media_url(n),
            "mime_type": "text/plain",
            "content_html": "",
        }
        for n in range(1, 8)
    ]
    settings = get_settings()
    limits = ExtractionLimits.from_settings(settings)
    with BoundedExtractor(limits, kinds_of(["text/plain"])) as extractor:
        extractor.start()
        results = list(extracted(rows, iter([]), client, extractor, settings))
    assert [row["wp_id"] for row, _ in results] == list(range(1, 8))
    assert [text for _, text in results[:6]] == [data.decode() for data in files.values()]
    failed = results[6][1]
    assert isinstance(failed, Failed) and "HTTP 404" in str(failed.error)
    assert 2 <= wp.most_in_flight <= client.parallel_downloads
