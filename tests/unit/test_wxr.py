"""The streaming WXR reader and WxrSource, on small exports built here and one large one."""

from __future__ import annotations

import io
import os
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pressrag.resources.errors import SourceError
from pressrag.resources.wordpress import (
    ContentSource,
    WxrReader,
    WxrSource,
    iter_wxr,
    read_wxr_site,
)
from pressrag.resources.wordpress.wxr import INTERNAL_POST_TYPES
from tests.support.wxr_export import SITE, attachment, item, wxr


def parse(text: str) -> list:
    return list(iter_wxr(io.BytesIO(text.encode("utf-8"))))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "export.xml"
    path.write_text(text, encoding="utf-8")
    return path


def test_maps_a_published_post() -> None:
    categories = (
        '<category domain="category" nicename="news"><![CDATA[News]]></category>'
        '<category domain="post_tag" nicename="tips"><![CDATA[Tips &amp; Tricks]]></category>'
        '<category domain="genre" nicename="sf"><![CDATA[Sci-fi]]></category>'
        '<category domain="nav_menu" nicename="main"><![CDATA[Main menu]]></category>'
    )
    (doc,) = parse(
        wxr(
            item(
                5,
                title="Hello &amp; welcome",
                content="<!-- wp:paragraph --><p>Body</p><!-- /wp:paragraph -->",
                excerpt="Short",
                categories=categories,
            )
        )
    )

    assert doc.wp_id == 5 and doc.type == "post" and doc.status == "publish"
    assert doc.title == "Hello & welcome"
    assert doc.url == f"{SITE}/?p=5"
    assert doc.content_html == "<!-- wp:paragraph --><p>Body</p><!-- /wp:paragraph -->"
    assert doc.excerpt == "Short"
    assert doc.author == "Jane Doe"  # dc:creator is a login, mapped to the display name
    # WordPress stores and exports term names (and some titles) HTML-escaped.
    assert doc.terms == {"category": ["News"], "post_tag": ["Tips & Tricks"], "genre": ["Sci-fi"]}
    assert doc.published_gmt == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert doc.modified_gmt == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert not doc.password_protected and doc.parent_id is None and doc.media_url is None


def test_maps_statuses_and_passwords() -> None:
    items = "".join(
        [
            item(1, status="publish"),
            item(2, status="draft"),
            item(3, status="private"),
            item(4, status="trash"),
            item(5, status="publish", password="hunter2"),
        ]
    )
    docs = {d.wp_id: d for d in parse(wxr(items))}

    assert {i: d.status for i, d in docs.items()} == {
        1: "publish",
        2: "draft",
        3: "private",
        4: "trash",
        5: "publish",
    }
    assert [i for i, d in docs.items() if d.password_protected] == [5]


def test_unset_dates_become_none() -> None:
    items = item(1, status="draft", date_gmt="0000-00-00 00:00:00", modified_gmt=None)
    (doc,) = parse(wxr(items))

    assert doc.published_gmt is None and doc.modified_gmt is None


def test_unknown_creator_keeps_the_login() -> None:
    (doc,) = parse(wxr(item(1, creator="ghost")))

    assert doc.author == "ghost"


def test_maps_attachments() -> None:
    items = item(10, title="Parent") + attachment(11, "2024/05/manual%20v2.pdf", parent=10)
    media = [d for d in parse(wxr(items)) if d.is_attachment]

    assert len(media) == 1
    (doc,) = media
    assert doc.status == "inherit" and doc.parent_id == 10
    assert doc.media_url == f"{SITE}/wp-content/uploads/2024/05/manual%20v2.pdf"
    assert doc.mime_type == "application/pdf"
    assert doc.url == f"{SITE}/?p=11"


def test_ignores_internal_types_and_keeps_custom_ones() -> None:
    internal = "".join(
        item(100 + i, post_type=t) for i, t in enumerate(sorted(INTERNAL_POST_TYPES))
    )
    items = item(1) + item(2, post_type="page") + item(3, post_type="book") + internal

    docs = parse(wxr(items))

    assert [(d.wp_id, d.type) for d in docs] == [(1, "post"), (2, "page"), (3, "book")]


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_reads_every_wxr_namespace_version(version: str) -> None:
    """WordPress changed the export namespace URI with each WXR version; all must read alike."""
    (doc,) = parse(wxr(item(1, title="T", excerpt="E", content="C"), version=version))

    assert (doc.wp_id, doc.title, doc.excerpt, doc.content_html, doc.author) == (
        1,
        "T",
        "E",
        "<p>C</p>\n",  # classic content, with its paragraphs as WordPress renders it
        "Jane Doe",
    )


def test_read_site_reports_channel_facts(tmp_path: Path) -> None:
    site = read_wxr_site(write(tmp_path, wxr(item(1))))

    assert site["title"] == "Example Site"
    assert site["link"] == SITE and site["base_site_url"] == SITE
    assert site["language"] == "en-GB"
    assert site["wxr_version"] == "1.2"
    assert site["authors"] == {"jdoe": "Jane Doe"}


def test_a_broken_item_costs_only_itself() -> None:
    """An item that is not XML is reported with its line; the items around it are read."""
    broken = wxr(item(1) + "\n<item><title>unclosed</item>\n" + item(3))
    line = broken.splitlines().index("<item><title>unclosed</item>") + 1
    reader = WxrReader(io.BytesIO(broken.encode()))

    assert [d.wp_id for d in reader] == [1, 3]
    (failure,) = reader.report.failures
    assert (failure.line, failure.reason) == (line, "<title> is not closed")
    assert reader.report.not_well_formed == f"line {line}: mismatched tag"
    assert reader.report.failure_count == 1 and reader.report.items == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<html><body>hi</body></html>", "root element is <html>, expected <rss>"),
        ('<rss version="2.0"></rss>', "no <rss><channel>"),
        ("", r"malformed XML before its <channel> \(line 1: no element found\)"),
        ("%PDF-1.4 binary", r"malformed XML before its <channel> \(line 1: not well-formed"),
        (
            "<rss><channel><title>A feed</title>"
            "<item><title>Plain RSS</title></item></channel></rss>",
            r"its <channel> has no <wp:wxr_version> before its first item$",
        ),
        (
            "<rss><channel><wp:wxr_version xmlns:wp='http://wordpress.org/export/1.2/'>abc"
            "</wp:wxr_version></channel></rss>",
            "its <wp:wxr_version> is 'abc', not a version number",
        ),
        (
            "<rss><channel><item><title>oops</channel></rss>",
            r"no <wp:wxr_version> .* \(and it is malformed XML at line 1: mismatched tag\)",
        ),
    ],
)
def test_a_file_that_is_not_wxr_is_refused(text: str, expected: str) -> None:
    """Pointing the reader at the wrong file must fail with one clear line, not yield an
    empty site; like WordPress's importer, an export must state its WXR version."""
    with pytest.raises(SourceError, match=expected) as caught:
        parse(text)

    assert "\n" not in str(caught.value)


def test_item_without_post_id_is_a_failure_not_a_refusal() -> None:
    feed = wxr(item(1) + "<item><title>No id</title><link>https://x</link></item>")
    reader = WxrReader(io.BytesIO(feed.encode()))

    assert [d.wp_id for d in reader] == [1]
    assert [(f.reason, f.title) for f in reader.report.failures] == [
        ("no numeric <wp:post_id>", "No id")
    ]


def test_billion_laughs_is_refused() -> None:
    bomb = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss><channel><item><title>&lol9;</title></item></channel></rss>"""

    with pytest.raises(SourceError, match="declares a DOCTYPE, which an export never does"):
        parse(bomb)


def test_external_entities_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    xxe = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>
<rss><channel><item><title>&xxe;</title></item></channel></rss>"""

    with pytest.raises(SourceError, match="refusing") as caught:
        parse(xxe)

    assert "top secret" not in str(caught.value)


def _write_export(path: Path, count: int, *, broken_at: int | None = None) -> Path:
    """An export of `count` posts (~1.3 kB each); item `broken_at` has a nested CDATA."""
    body = "<p>" + "Lorem ipsum dolor sit amet. " * 40 + "</p>"
    head, tail = wxr("@@ITEMS@@").split("@@ITEMS@@")
    with path.open("w", encoding="utf-8") as handle:
        handle.write(head)
        for wp_id in range(1, count + 1):
            nested = " <![CDATA[x]]> " if wp_id == broken_at else ""
            handle.write(item(wp_id, content=f"{body}{nested} #{wp_id}"))
        handle.write(tail)
    return path


def _peak_of_reading(path: Path) -> tuple[int, int, int]:
    """(documents, last wp_id, peak traced bytes) of one pass over `path`."""
    tracemalloc.start()
    try:
        seen = last_id = 0
        for doc in iter_wxr(path):
            seen += 1
            last_id = doc.wp_id
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seen, last_id, peak


@pytest.mark.parametrize("broken_at", [None, 3], ids=["well-formed", "tolerant"])
def test_memory_does_not_grow_with_the_export(tmp_path: Path, broken_at: int | None) -> None:
    """Both readers stream: a 4× larger export needs no more memory (bench/wxr_large.py
    measures the same on 500 MB). With a broken item near the start, the tolerant reader
    reads almost the whole file."""
    small = _write_export(tmp_path / "small.xml", 1_000, broken_at=broken_at)
    large = _write_export(tmp_path / "large.xml", 4_000, broken_at=broken_at)

    small_seen, _, small_peak = _peak_of_reading(small)
    large_seen, large_last, large_peak = _peak_of_reading(large)

    assert (small_seen, large_seen, large_last) == (1_000, 4_000, 4_000)
    assert os.path.getsize(large) > 7_000_000
    assert large_peak < 2_000_000, f"peak {large_peak} bytes"
    assert large_peak < small_peak * 1.5 + 200_000, (small_peak, large_peak)


# ---- WxrSource --------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path: Path) -> Path:
    items = "".join(
        [
            item(1, modified_gmt="2024-01-01 00:00:00"),
            item(2, post_type="page", modified_gmt="2024-01-05 00:00:00"),
            item(3, post_type="book"),
            item(4, status="draft"),
            attachment(5, "2024/05/report.pdf", parent=1),
            item(6, post_type="revision", parent=1),
        ]
    )
    path = write(tmp_path, wxr(items))
    uploads = tmp_path / "uploads" / "2024" / "05"
    uploads.mkdir(parents=True)
    (uploads / "report.pdf").write_bytes(b"%PDF-1.4 " + b"x" * 991)
    return path


def test_source_satisfies_the_content_source_protocol(export: Path) -> None:
    assert isinstance(WxrSource(export), ContentSource)


def test_source_lists_documents_media_and_versions(export: Path) -> None:
    source = WxrSource(export, post_types=("post", "page", "book"))

    assert [d.wp_id for d in source.iter_documents()] == [1, 2, 3, 4]
    assert [d.wp_id for d in WxrSource(export).iter_documents()] == [1, 2, 4]
    assert [d.wp_id for d in source.iter_media()] == [5]
    assert sorted((i, t) for i, t, _ in source.list_versions()) == [
        (1, "post"),
        (2, "page"),
        (3, "book"),
        (4, "post"),
        (5, "attachment"),
    ]


def test_source_filters_by_modified_after(export: Path) -> None:
    after = datetime(2024, 1, 3, tzinfo=UTC)

    docs = WxrSource(export).iter_documents(modified_after=after)

    assert [d.wp_id for d in docs] == [2, 4]  # item 4 was modified 2024-02-03


def test_source_fetch_maps_missing_ids_to_none(export: Path) -> None:
    found = WxrSource(export).fetch(None, [1, 5, 6, 99])

    assert found[1] is not None and found[5] is not None
    assert found[6] is None  # a revision is never content
    assert found[99] is None
    assert WxrSource(export).fetch("page", [1])[1] is None


def test_source_reads_media_from_the_uploads_folder(export: Path) -> None:
    source = WxrSource(export)
    url = f"{SITE}/wp-content/uploads/2024/05/report.pdf"

    assert source.open_media(url, max_bytes=1000).startswith(b"%PDF-1.4")
    with pytest.raises(SourceError, match="file exceeds 999 bytes"):
        source.open_media(url, max_bytes=999)
    with pytest.raises(SourceError, match="not found"):
        source.open_media(f"{SITE}/wp-content/uploads/2024/05/missing.pdf", max_bytes=1000)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"{SITE}/wp-content/uploads/../../export.xml", "escapes the uploads folder"),
        (f"{SITE}/wp-content/uploads/%2e%2e/export.xml", "escapes the uploads folder"),
        (f"{SITE}/wp-content/uploads/2024/05/link.pdf", "escapes the uploads folder"),
        (f"{SITE}/wp-config.php", "not under /wp-content/uploads/"),
        ("https://evil.example/wp-content/uploads/2024/05/report.pdf", "not on the export's site"),
        ("http://example.org/wp-content/uploads/2024/05/report.pdf", "not on the export's site"),
    ],
)
def test_source_refuses_media_outside_uploads_or_site(
    export: Path, url: str, expected: str
) -> None:
    """Media URLs come from the export, which may be hostile: only the site's uploads are read."""
    (export.parent / "uploads" / "2024" / "05" / "link.pdf").symlink_to(export)

    with pytest.raises(SourceError, match=expected):
        WxrSource(export).open_media(url, max_bytes=10_000_000)


def test_each_pass_hands_out_what_a_full_read_does_and_reports_the_same(tmp_path: Path) -> None:
    """The passes render only the content of what they hand out (the posts' pass not the
    attachments', the media pass not the posts', versions nothing): what they hand out is
    what a full read gives, rendered, and every pass's read report counts the same."""
    classic = "First paragraph.\n\nSecond paragraph."
    items = "".join(
        [
            item(1, content=classic),
            item(2, post_type="page", content=classic),
            item(
                3,
                post_type="attachment",
                status="inherit",
                content=classic,
                extra=f"<wp:attachment_url>{SITE}/wp-content/uploads/a.txt</wp:attachment_url>",
            ),
            item(4, post_type="revision", parent=1, content=classic),
        ]
    )
    path = write(tmp_path, wxr(items))
    full = {d.wp_id: d for d in iter_wxr(path)}
    reports: list[dict] = []
    source = WxrSource(path, on_read=lambda report: reports.append(report.as_dict()))

    posts = list(source.iter_documents())
    media = list(source.iter_media())
    fetched = source.fetch(None, [2, 3])
    versions = list(source.list_versions())

    assert [d.wp_id for d in posts] == [1, 2] and [d.wp_id for d in media] == [3]
    assert all(d.content_html.count("<p>") == 2 for d in [*posts, *media])
    assert posts + media == [full[1], full[2], full[3]]
    assert fetched == {2: full[2], 3: full[3]}
    assert sorted(versions) == [(d.wp_id, d.type, d.modified_gmt) for d in posts + media]
    counts = [{k: v for k, v in r.items() if k != "seconds"} for r in reports]
    assert len(counts) == 4 and all(c == counts[0] for c in counts)
