"""Exports as different WordPress versions and tools write them, read as WordPress's importer
reads them (WordPress/wordpress-importer, `parsers/`): WXR 1.0–1.2, other namespace prefixes,
missing optional tags, a channel without a URL, and files that are not well-formed XML."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pressrag.resources.wordpress import WxrReader, WxrSource, read_wxr_site, site_url_of
from tests.support.wxr_export import SITE, item, wxr


def read(text: str | bytes) -> tuple[list, WxrReader]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    reader = WxrReader(io.BytesIO(data))
    return list(reader), reader


def site_of(text: str) -> dict:
    return read_wxr_site(io.BytesIO(text.encode("utf-8")))


# ---- the site URL -------------------------------------------------------------------------


def test_a_channel_without_link_takes_the_url_of_its_items() -> None:
    """Exports with no <link> and no base URLs were refused; every item carries its link."""
    export = wxr(item(1) + item(2)).replace(f"<link>{SITE}</link>", "")
    export = export.replace(f"<wp:base_site_url>{SITE}</wp:base_site_url>", "")
    export = export.replace(f"<wp:base_blog_url>{SITE}</wp:base_blog_url>", "")

    site = site_of(export)

    assert (site["link"], site["base_site_url"], site["base_blog_url"]) == ("", None, None)
    assert site["item_origin"] == SITE
    assert site_url_of(site) == SITE


def test_items_without_links_fall_back_to_their_guid() -> None:
    guid_only = item(1).replace(f"<link>{SITE}/?p=1</link>", f"<guid>{SITE}/?p=1</guid>")
    export = wxr(guid_only).replace(f"<link>{SITE}</link>", "")
    for tag in ("base_site_url", "base_blog_url"):
        export = export.replace(f"<wp:{tag}>{SITE}</wp:{tag}>", "")

    (doc,), _ = read(export)

    assert doc.url == f"{SITE}/?p=1"
    assert site_url_of(site_of(export)) == SITE


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({"base_blog_url": "https://blog.example/news", "link": "https://x.example"}, "blog"),
        ({"link": "https://link.example/", "base_site_url": "https://wp.example"}, "link"),
        ({"base_site_url": "https://wp.example/"}, "wp"),
    ],
)
def test_site_url_prefers_the_blog_url_then_the_link_then_the_wordpress_address(
    present: dict[str, str], expected: str
) -> None:
    """`base_blog_url` is WordPress's "home" (where posts live); `base_site_url` can be a
    network's main site or a subfolder install, so it comes last."""
    site = {"link": "", "base_site_url": None, "base_blog_url": None, "item_origin": None}
    site.update(present)
    url = site_url_of(site)
    assert url is not None and url.startswith(f"https://{expected}.example")
    assert not url.endswith("/")


def test_no_url_anywhere_is_none() -> None:
    export = wxr(item(1).replace(f"<link>{SITE}/?p=1</link>", "")).replace(
        f"<link>{SITE}</link>", ""
    )
    for tag in ("base_site_url", "base_blog_url"):
        export = export.replace(f"<wp:{tag}>{SITE}</wp:{tag}>", "")
    assert site_url_of(site_of(export)) is None


# ---- versions and namespaces ----------------------------------------------------------------

WXR_1_0 = f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- generator="WordPress/3.0.1" created="2010-10-20 14:22"-->
<rss version="2.0"
	xmlns:excerpt="http://wordpress.org/export/1.0/excerpt/"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:wp="http://wordpress.org/export/1.0/"
>
<channel>
	<title>Export Dataset</title>
	<link>{SITE}/</link>
	<wp:wxr_version>1.0</wp:wxr_version>
	<wp:base_site_url>{SITE}/</wp:base_site_url>
	<wp:base_blog_url>{SITE}/</wp:base_blog_url>
	<wp:category><wp:category_nicename>alpha</wp:category_nicename><wp:cat_name><![CDATA[alpha]]></wp:cat_name></wp:category>
	<item>
		<title>Alpha post</title>
		<link>{SITE}/?p=4</link>
		<dc:creator><![CDATA[admin]]></dc:creator>
		<category><![CDATA[alpha]]></category>
		<category domain="category" nicename="alpha"><![CDATA[alpha]]></category>
		<category domain="tag"><![CDATA[news]]></category>
		<category domain="tag" nicename="news"><![CDATA[news]]></category>
		<guid isPermaLink="false">{SITE}/?p=4</guid>
		<content:encoded><![CDATA[Tagged in news]]></content:encoded>
		<excerpt:encoded><![CDATA[]]></excerpt:encoded>
		<wp:post_id>4</wp:post_id>
		<wp:post_date>2010-10-20 14:08:47</wp:post_date>
		<wp:post_date_gmt>2010-10-20 14:08:47</wp:post_date_gmt>
		<wp:status>publish</wp:status>
		<wp:post_parent>0</wp:post_parent>
		<wp:post_type>post</wp:post_type>
		<wp:post_password></wp:post_password>
	</item>
</channel>
</rss>
"""


def test_wxr_1_0_reads_terms_as_wordpress_imports_them() -> None:
    """WXR 1.0 lists each term twice (plain, and with domain and nicename); WordPress imports
    the ones with a nicename, so a term is not counted twice or filed in the wrong taxonomy."""
    (doc,), reader = read(WXR_1_0)

    assert (doc.wp_id, doc.title, doc.content_html, doc.author) == (
        4,
        "Alpha post",
        "<p>Tagged in news</p>\n",
        "admin",
    )
    assert doc.terms == {"category": ["alpha"], "tag": ["news"]}
    assert reader.facts["wp:wxr_version"] == "1.0"


def test_other_prefixes_bound_to_the_export_namespaces_read_alike() -> None:
    """Namespaces are matched by URI: a tool may write `wordpress:` for `wp:`, declare them on
    the item, or mix WXR versions; a prefix bound to another URI is not WordPress's."""
    export = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:wordpress="http://wordpress.org/export/1.1/"
     xmlns:body="http://purl.org/rss/1.0/modules/content/"
     xmlns:summary="http://wordpress.org/export/1.1/excerpt/"
     xmlns:who="http://purl.org/dc/elements/1.1/">
<channel>
  <wordpress:wxr_version>1.1</wordpress:wxr_version>
  <wordpress:base_blog_url>{SITE}</wordpress:base_blog_url>
  <wordpress:author><wordpress:author_login>ann</wordpress:author_login>
    <wordpress:author_display_name>Ann Author</wordpress:author_display_name></wordpress:author>
  <item>
    <title>Prefixed</title>
    <who:creator>ann</who:creator>
    <body:encoded><![CDATA[<p>Body one</p>]]></body:encoded>
    <summary:encoded>Short one</summary:encoded>
    <wordpress:post_id>1</wordpress:post_id>
    <wordpress:status>publish</wordpress:status>
    <wordpress:post_type>page</wordpress:post_type>
  </item>
  <item xmlns:w="http://wordpress.org/export/1.2/" xmlns:c="http://purl.org/rss/1.0/modules/content/">
    <title>Declared on the item</title>
    <c:encoded>Body two</c:encoded>
    <w:post_id>2</w:post_id>
    <w:status>publish</w:status>
  </item>
  <item xmlns:wp="https://attacker.example/not-wordpress/">
    <title>Foreign namespace</title>
    <wp:post_id>3</wp:post_id>
  </item>
</channel>
</rss>"""

    docs, reader = read(export)

    assert [(d.wp_id, d.type, d.title) for d in docs] == [
        (1, "page", "Prefixed"),
        (2, "post", "Declared on the item"),
    ]
    assert (docs[0].content_html, docs[0].excerpt, docs[0].author) == (
        "<p>Body one</p>\n",
        "Short one",
        "Ann Author",
    )
    assert docs[1].content_html == "<p>Body two</p>\n"
    assert [(f.title, f.reason) for f in reader.report.failures] == [
        ("Foreign namespace", "no numeric <wp:post_id>")
    ]


def test_missing_optional_tags_take_wordpress_defaults() -> None:
    """Only the post id is required. As WordPress imports them: no status → draft (never
    public), no type → post; no link → the guid; no creator, excerpt or dates → empty."""
    export = wxr(
        f"""<item><title>Bare</title><guid isPermaLink="false">{SITE}/?p=7</guid>
        <wp:post_id>7</wp:post_id><content:encoded>Only a body</content:encoded></item>
        <item><wp:post_id>8</wp:post_id><wp:status>publish</wp:status></item>"""
    )

    bare, untitled = read(export)[0]

    assert (bare.wp_id, bare.type, bare.status, bare.url) == (7, "post", "draft", f"{SITE}/?p=7")
    assert (bare.author, bare.excerpt, bare.modified_gmt, bare.published_gmt) == (
        "",
        "",
        None,
        None,
    )
    assert (bare.content_html, bare.terms, bare.password_protected) == (
        "<p>Only a body</p>\n",
        {},
        False,
    )
    assert (untitled.wp_id, untitled.title, untitled.status, untitled.content_html) == (
        8,
        "",
        "publish",
        "",
    )


def test_cdata_split_around_a_closing_sequence_is_joined() -> None:
    """Exporters since WordPress 2.x write `]]>` inside content as `]]]]><![CDATA[>`."""
    (doc,), reader = read(wxr(item(1, content="a ]]]]><![CDATA[> b")))

    assert doc.content_html == "<p>a ]]> b</p>\n"
    assert reader.report.not_well_formed is None


# ---- not well-formed exports ----------------------------------------------------------------


def test_nested_cdata_in_one_of_several_posts_is_read_as_wordpress_reads_it() -> None:
    """Older exporters wrote a post containing `]]>` inside one CDATA section: not XML.
    WordPress's importer falls back to its regex parser and imports it; so do we."""
    nested = "Content with nested <![CDATA[ tags ]]> :)"
    export = wxr(
        item(1, content="<p>First</p>") + item(2, content=nested) + item(3, content="Last")
    )
    line = export.splitlines().index(
        next(x for x in export.splitlines() if "nested <![CDATA[" in x)
    )

    docs, reader = read(export)

    assert [(d.wp_id, d.content_html) for d in docs] == [
        (1, "<p>First</p>\n"),
        (2, f"<p>{nested}</p>\n"),
        (3, "<p>Last</p>\n"),
    ]
    assert docs[1].title == "Item 2" and docs[1].author == "Jane Doe"
    assert reader.report.failures == []
    assert reader.report.not_well_formed == f"line {line + 1}: not well-formed (invalid token)"


def test_crazy_cdata_in_post_meta_is_read_too() -> None:
    """The importer's own test case: `]]>` and nested openers in CDATA post meta."""
    notes = json.dumps([{"id": "n1", "content": "A ]]> note"}])
    meta = (
        "<wp:postmeta><wp:meta_key>footnotes</wp:meta_key>"
        f"<wp:meta_value><![CDATA[{notes}]]></wp:meta_value></wp:postmeta>"
    )
    content = '<p>See<sup data-fn="n1" class="fn"><a href="#n1" id="n1-link">1</a></sup></p>'
    export = wxr(item(1, content=content + "<!-- wp:footnotes /-->", extra=meta))

    (doc,), reader = read(export)

    assert reader.report.not_well_formed is not None
    assert '<ol class="wp-block-footnotes"><li id="n1">A ]]> note</li></ol>' in doc.content_html


def test_a_stray_control_character_costs_nothing() -> None:
    """XML forbids most control characters; WordPress content sometimes holds one (pasted
    from a word processor). The item is read without it."""
    export = wxr(item(1) + item(2, title="Vertical\x0btab", content="<p>Form\x0cfeed</p>"))

    docs, reader = read(export)

    assert [(d.wp_id, d.title, d.content_html) for d in docs][1] == (
        2,
        "Verticaltab",
        "<p>Formfeed</p>\n",
    )
    assert reader.report.not_well_formed is not None and reader.report.failures == []


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    export = wxr(item(1) + item(2, content="caf@@")).encode("utf-8").replace(b"@@", b"\xe9")

    docs, _reader = read(export)

    assert [d.wp_id for d in docs] == [1, 2]
    assert docs[1].content_html == "<p>caf\ufffd</p>\n"


def test_an_item_that_never_closes_is_reported_and_the_next_one_read() -> None:
    unclosed = item(2).replace("</item>", "")
    export = wxr(item(1) + unclosed + item(3))
    line = export.splitlines().index("\t<item>", export.splitlines().index("\t<item>") + 1)

    docs, reader = read(export)

    assert [d.wp_id for d in docs] == [1, 3]
    (failure,) = reader.report.failures
    assert (failure.line, failure.wp_id, failure.title) == (line + 1, 2, "Item 2")
    assert failure.reason == "not closed before the next <item>"
    assert str(failure) == f"line {line + 1}: post 2 'Item 2': not closed before the next <item>"


def test_a_truncated_export_keeps_every_complete_item() -> None:
    export = wxr(item(1) + item(2) + item(3))
    cut = export[: export.index("<wp:post_id>3</wp:post_id>") + 30]

    docs, reader = read(cut)

    assert [d.wp_id for d in docs] == [1, 2]
    (failure,) = reader.report.failures
    assert failure.wp_id == 3 and "truncated" in failure.reason


def test_an_unclosed_field_fails_its_item_instead_of_indexing_half_of_it() -> None:
    """Content cut off inside an item must not be indexed as if it were the whole post."""
    broken = item(2, content="<p>Half").replace("]]></content:encoded>", "]]>")
    export = wxr(item(1) + broken + item(3))

    docs, reader = read(export)

    assert [d.wp_id for d in docs] == [1, 3]
    assert [(f.wp_id, f.reason) for f in reader.report.failures] == [
        (2, "<content:encoded> is not closed")
    ]


def test_a_broken_channel_header_still_gives_its_facts_and_authors() -> None:
    export = wxr(item(1, creator="ann")).replace(
        "<wp:author>",
        "<wp:author><wp:author_login>ann</wp:author_login>"
        "<wp:author_display_name>Ann &nbsp; A.</wp:author_display_name></wp:author><wp:author>",
        1,
    )

    (doc,), reader = read(export)

    assert reader.report.not_well_formed is not None  # &nbsp; is not an XML entity
    assert doc.author == "Ann &nbsp; A."
    assert reader.facts["link"] == SITE and reader.facts["wp:wxr_version"] == "1.2"


def test_the_tolerant_reader_refuses_no_more_than_the_strict_one() -> None:
    """Entities are never expanded by the tolerant reader either."""
    export = wxr(item(1, title="&lol9; &amp; more", content="x <![CDATA[ y ]]> z"))
    export = export.replace(
        "<title><![CDATA[&lol9; &amp; more]]></title>", "<title>&lol9; &amp; more</title>"
    )

    (doc,), _ = read(export)

    assert doc.title == "&lol9; & more"


# ---- reports --------------------------------------------------------------------------------


def test_a_source_reports_each_complete_pass(tmp_path: Path) -> None:
    path = tmp_path / "export.xml"
    path.write_text(wxr(item(1) + "<item><title>No id</title></item>" + item(3)), "utf-8")
    reports = []
    progress = []
    source = WxrSource(path, on_read=reports.append, on_progress=progress.append)

    assert [d.wp_id for d in source.iter_documents()] == [1, 3]
    next(iter(source.iter_documents()))  # a pass stopped early reports nothing

    (report,) = reports
    assert (report.items, report.documents, report.failure_count) == (3, 2, 1)
    assert report.bytes_read == path.stat().st_size and len(report.sha256) == 64
    assert report.as_dict()["failures"] == [
        {
            "line": report.failures[0].line,
            "wp_id": None,
            "title": "No id",
            "reason": "no numeric <wp:post_id>",
        }
    ]
    assert progress[-1].bytes_read == progress[-1].total_bytes == path.stat().st_size
    assert progress[-1].items == 3
